// Command statsload is the load the stats test measures, run FROM scratch:
// "busy MB" keeps one CPU busy and holds MB megabytes it has written to;
// "idle" sleeps.
package main

import (
	"os"
	"strconv"
	"time"
)

var sink []byte

func main() {
	if len(os.Args) > 2 && os.Args[1] == "busy" {
		mb, _ := strconv.Atoi(os.Args[2])
		sink = make([]byte, mb<<20)
		for i := range sink {
			sink[i] = byte(i)
		}
		x := 0
		for {
			x++
			if x%(1<<30) == 0 {
				sink[x%len(sink)]++
			}
		}
	}
	for {
		time.Sleep(time.Hour)
	}
}
