package app

import (
	"fmt"
	"io"
)

// prepareDemo points the wizard at a stand-in release under the state
// directory, so the flow can be walked without a CARTO checkout.
func prepareDemo(cfg *Config, stdout io.Writer) error {
	return fmt.Errorf("--demo: the stand-in release is not available in this build yet")
}
