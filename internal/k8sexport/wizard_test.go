package k8sexport

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/carto-setup/carto-setup/internal/wizard"
)

// TestFromWizardCarriesEveryAdvancedSetting fills every field of the
// wizard's Advanced settings with a value of its own and finds each of them
// in what the export receives, so a setting added to the step cannot be
// dropped from the export without this test failing.
func TestFromWizardCarriesEveryAdvancedSetting(t *testing.T) {
	t.Parallel()
	var a wizard.AdvancedInput
	v := reflect.ValueOf(&a).Elem()
	var want []string
	for i := range v.NumField() {
		f := v.Field(i)
		name := v.Type().Field(i).Name
		switch f.Kind() {
		case reflect.String:
			f.SetString("value-of-" + name)
			want = append(want, "value-of-"+name)
		case reflect.Bool:
			f.SetBool(true)
		case reflect.Slice:
			a.Extra = []wizard.AdvancedVar{{Key: "FREE_ONE", Value: "free-1"}, {Key: "FREE_TWO", Value: "free-2", Secret: true}}
			want = append(want, "FREE_ONE=free-1", "FREE_TWO=free-2")
		default:
			t.Fatalf("AdvancedInput.%s is a %s: teach FromWizard and this test about it", name, f.Kind())
		}
	}
	adv := FromWizard(a)
	got := fmt.Sprintf("%+v", adv)
	for _, e := range adv.ExtraEnv {
		got += " " + e.Name + "=" + e.Value
	}
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("%s is not carried into the export: %s", w, got)
		}
	}
	if !strings.Contains(got, wizard.KeyNodeTLSRejectUnauth+"=0") {
		t.Errorf("SkipTLSVerify is not carried: %s", got)
	}
}
