// Command loggen writes numbered log lines for the logstream live tests. It
// is built statically and run in a FROM scratch image. Each line is written
// with one write(2), so that the daemon's timestamps follow the program.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// Fancy is a line with ANSI colours and multibyte UTF-8, long enough that
// the daemon splits it and a rune straddles the cut.
func fancy() string {
	return "\x1b[31mrouge\x1b[0m " + strings.Repeat("é€😀", 3000) + " \x1b[1mfin\x1b[0m"
}

// Long is the long line of n bytes the tests expect.
func long(n int) string {
	p := fmt.Sprintf("long=%d ", n)
	return p + strings.Repeat("0123456789", n/10+1)[:n-len(p)]
}

func main() {
	lines := flag.Int("lines", 0, "number of numbered lines; 0 writes until SIGTERM")
	every := flag.Duration("every", 5*time.Millisecond, "pause between lines")
	stderrEvery := flag.Int("stderr-every", 0, "write every k-th line to stderr")
	longs := flag.String("long", "", "comma-separated sizes of long lines to write first")
	withFancy := flag.Bool("fancy", false, "write an ANSI and UTF-8 line first")
	final := flag.String("final", "", "text written without newline before exiting")
	flag.Parse()

	run := time.Now().UnixNano()
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)

	out := func(f *os.File, s string) { f.Write([]byte(s)) }
	if *withFancy {
		out(os.Stdout, fancy()+"\n")
	}
	if *longs != "" {
		for _, s := range strings.Split(*longs, ",") {
			var n int
			fmt.Sscan(s, &n)
			out(os.Stdout, long(n)+"\n")
		}
	}
	for i := 0; *lines == 0 || i < *lines; i++ {
		f := os.Stdout
		if *stderrEvery > 0 && i%*stderrEvery == 0 {
			f = os.Stderr
		}
		out(f, fmt.Sprintf("seq=%d run=%d\n", i, run))
		select {
		case <-stop:
			out(os.Stdout, fmt.Sprintf("stopping run=%d", run))
			return
		case <-time.After(*every):
		}
	}
	if *final != "" {
		out(os.Stdout, *final)
	}
}
