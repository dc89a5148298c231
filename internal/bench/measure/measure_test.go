package measure

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestSummarize(t *testing.T) {
	var d []time.Duration
	for i := 100; i >= 1; i-- {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	got := Summarize(d)
	want := Latencies{N: 100, P50: 50 * time.Millisecond, P99: 99 * time.Millisecond, Max: 100 * time.Millisecond}
	if got != want {
		t.Errorf("Summarize = %+v, want %+v", got, want)
	}
	if (Summarize(nil) != Latencies{}) {
		t.Error("Summarize(nil) not zero")
	}
}

func TestReadProcSelf(t *testing.T) {
	p, err := ReadProc(os.Getpid())
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	if p.RSS <= 0 || p.HWM < p.RSS {
		t.Errorf("ReadProc(self) = %+v", p)
	}
	if pp, err := ParentPID(os.Getpid()); err != nil || pp != os.Getppid() {
		t.Errorf("ParentPID = %d, %v; want %d", pp, err, os.Getppid())
	}
}

func TestTable(t *testing.T) {
	var b strings.Builder
	tb := Table{Header: []string{"a", "long header"}}
	tb.Add("value", "x")
	tb.Print(&b)
	want := "| a     | long header |\n| ----- | ----------- |\n| value | x           |\n"
	if b.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", b.String(), want)
	}
}
