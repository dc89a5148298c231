package answers

import (
	"fmt"

	"github.com/carto-setup/carto-setup/internal/redact"
	"github.com/carto-setup/carto-setup/internal/wizard"
)

// checkNoSecrets refuses an exported answers file that shows a secret of
// st: every field of the wizard's registry is looked for, so a secret
// added to the registry that Export writes inline by mistake is caught
// here, not in the admin's copy of the file. Values shorter than
// redact.MinChosenSecret are left to the tests: a short one can be part of
// a path or a name of the file by chance, and the export must not fail
// for that.
func checkNoSecrets(out []byte, st wizard.State) error {
	for _, f := range st.SecretFields() {
		if v := *f.Value; len(v) >= redact.MinChosenSecret && redact.Shows(string(out), v) {
			return fmt.Errorf("answers: export: the %s would be written into the answers file; it is kept out (a bug: report it)", f.What)
		}
	}
	return nil
}
