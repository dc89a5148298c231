// Command loggen writes sequence-numbered, time-stamped log lines for the log
// streaming benchmark (make bench-logs). It is built statically
// (CGO_ENABLED=0) and run in a FROM scratch image. Each line is written with
// one write(2), unbuffered, so that the daemon's timestamps and the
// consumers' latencies follow the program and not a stdio buffer.
//
// It first writes "READY <run>" and waits until the gate file exists, so that
// every consumer attaches before the first data line; then it writes -lines
// data lines at -rate lines per second (0: as fast as it can), then
// "END <run> <count>", and then, with -hold, sleeps until it is stopped. On
// SIGTERM it writes its END line at once and exits, so a restarted container
// says how many lines its interrupted run wrote.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/carto-setup/carto-setup/internal/bench/logline"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "loggen:", err)
		os.Exit(2)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("loggen", flag.ContinueOnError)
	lines := fs.Uint64("lines", 1000, "data lines per run")
	rate := fs.Float64("rate", 1000, "lines per second; 0 writes a burst as fast as possible")
	var o logline.Options
	fs.IntVar(&o.Size, "size", 100, "payload bytes per line")
	fs.BoolVar(&o.ANSI, "ansi", false, "colour the payload with ANSI escapes")
	fs.BoolVar(&o.UTF8, "utf8", false, "mix multibyte UTF-8 into the payload")
	fs.BoolVar(&o.JSON, "json", false, "make the payload a JSON object")
	stderrEvery := fs.Uint64("stderr-every", 0, "write every k-th line (seq % k == 0) to stderr")
	gate := fs.String("gate", "", "wait until this file exists before the first data line")
	hold := fs.Bool("hold", true, "after the END line, sleep until stopped instead of exiting")
	if err := fs.Parse(args); err != nil {
		return err
	}

	runID := time.Now().UnixNano()
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)

	os.Stdout.WriteString(logline.ReadyLine(runID))
	if *gate != "" {
		for {
			if _, err := os.Stat(*gate); err == nil {
				break
			}
			select {
			case <-stop:
				os.Stdout.WriteString(logline.EndLine(runID, 0))
				return nil
			case <-time.After(time.Millisecond):
			}
		}
	}

	// Pace against a schedule rather than sleeping per line: line i is due
	// at start + i/rate, so sleep overshoot does not lower the rate.
	start := time.Now()
	var interval time.Duration
	if *rate > 0 {
		interval = time.Duration(float64(time.Second) / *rate)
	}
	buf := make([]byte, 0, o.Size+64)
	var n uint64
	for n = 0; n < *lines; n++ {
		if n%256 == 0 {
			select {
			case <-stop:
				os.Stdout.WriteString(logline.EndLine(runID, n))
				return nil
			default:
			}
		}
		if interval > 0 {
			if d := time.Until(start.Add(time.Duration(n) * interval)); d > 0 {
				select {
				case <-stop:
					os.Stdout.WriteString(logline.EndLine(runID, n))
					return nil
				case <-time.After(d):
				}
			}
		}
		f := os.Stdout
		if *stderrEvery > 0 && n%*stderrEvery == 0 {
			f = os.Stderr
		}
		buf = logline.AppendData(buf[:0], n, time.Now().UnixNano(), runID, logline.Payload(n, o))
		if _, err := f.Write(buf); err != nil {
			return err
		}
	}
	os.Stdout.WriteString(logline.EndLine(runID, n))
	if *hold {
		<-stop
	}
	return nil
}
