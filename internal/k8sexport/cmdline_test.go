package k8sexport

import (
	"errors"
	"strings"
	"testing"

	"github.com/carto-setup/carto-setup/internal/testenv"
)

func TestParseCommand(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args    []string
		want    Command
		wantErr string
	}{
		{args: []string{"helm", "--answers", "a.yaml", "-o", "out"}, want: Command{Flavour: FlavourHelm, Answers: "a.yaml", Out: "out"}},
		{args: []string{"helm", "--answers=a.yaml", "-o", "out", "--secret-refs", "--force"},
			want: Command{Flavour: FlavourHelm, Answers: "a.yaml", Out: "out", SecretRefs: true, Force: true}},
		{args: []string{"kots", "--answers", "a.yaml", "-o", "cv.yaml"}, want: Command{Flavour: FlavourKOTS, Answers: "a.yaml", Out: "cv.yaml"}},
		{args: nil, wantErr: "export needs helm or kots"},
		{args: []string{"compose"}, wantErr: `export "compose": want helm or kots`},
		{args: []string{"kots", "--answers", "a.yaml", "-o", "f", "--secret-refs"}, wantErr: "secret-refs"},
		{args: []string{"helm", "-o", "out"}, wantErr: "--answers is required"},
		{args: []string{"helm", "--answers", "a.yaml"}, wantErr: "-o is required"},
		{args: []string{"helm", "--answers", "a.yaml", "-o", "out", "extra"}, wantErr: `unexpected argument "extra"`},
	} {
		var stderr testenv.Buffer
		got, err := ParseCommand(tc.args, &stderr)
		if tc.wantErr != "" {
			if !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%q: err = %v, want a usage error with %q", tc.args, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%q: got %+v, %v; want %+v", tc.args, got, err, tc.want)
		}
	}
}

// TestUsageNamesEveryFlag keeps the help text and the parser together.
func TestUsageNamesEveryFlag(t *testing.T) {
	t.Parallel()
	for _, f := range []string{"--answers FILE", "-o DIR", "-o FILE", "--secret-refs", "--force",
		"export helm --answers FILE -o DIR [--secret-refs]", "export kots --answers FILE -o FILE"} {
		if !strings.Contains(Usage, f) {
			t.Errorf("Usage lacks %q", f)
		}
	}
}
