package measure

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat. It
// is 100 on every Linux architecture Go supports.
const clockTicks = 100

// Proc is a snapshot of one process's counters.
type Proc struct {
	CPU time.Duration // user + system time so far
	RSS int64         // resident set size, bytes
	HWM int64         // peak resident set size over the process's life, bytes
}

// ReadProc reads the CPU time and memory of pid from /proc.
func ReadProc(pid int) (Proc, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return Proc{}, err
	}
	// The command name may hold spaces; fields resume after its ')'.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return Proc{}, fmt.Errorf("measure: /proc/%d/stat: no command", pid)
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return Proc{}, fmt.Errorf("measure: /proc/%d/stat: %d fields", pid, len(f))
	}
	// After the name: state(0) ppid(1) ... utime(11) stime(12).
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	p := Proc{CPU: time.Duration(ut+st) * time.Second / clockTicks}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Proc{}, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch k {
		case "VmRSS":
			p.RSS = kib(v)
		case "VmHWM":
			p.HWM = kib(v)
		}
	}
	return p, nil
}

func kib(v string) int64 {
	n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
	return n << 10
}

// ParentPID returns the parent of pid.
func ParentPID(pid int) (int, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	i := bytes.LastIndexByte(stat, ')')
	f := strings.Fields(string(stat[i+1:]))
	if i < 0 || len(f) < 2 {
		return 0, fmt.Errorf("measure: /proc/%d/stat: malformed", pid)
	}
	return strconv.Atoi(f[1])
}

// FindProcess returns the pid of the first process whose command name
// (/proc/<pid>/comm) is name, or 0.
func FindProcess(name string) int {
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		comm, err := os.ReadFile(filepath.Join(d, "comm"))
		if err == nil && strings.TrimSpace(string(comm)) == name {
			pid, _ := strconv.Atoi(filepath.Base(d))
			return pid
		}
	}
	return 0
}

// Sampler records the peak RSS of a set of processes, read every interval,
// between Start and Stop. Processes can be added while it runs (a consumer
// that is restarted gets a new pid), under a name whose peaks are combined.
type Sampler struct {
	interval time.Duration

	mu   sync.Mutex
	pids map[string][]int
	peak map[string]int64
	stop chan struct{}
	done chan struct{}
}

// NewSampler returns a sampler reading every interval.
func NewSampler(interval time.Duration) *Sampler {
	return &Sampler{interval: interval, pids: map[string][]int{}, peak: map[string]int64{}}
}

// Watch adds pid under name. The RSS of several pids under one name is
// summed per sample (a daemon and its shim are one cost).
func (s *Sampler) Watch(name string, pid int) {
	if pid <= 0 {
		return
	}
	s.mu.Lock()
	s.pids[name] = append(s.pids[name], pid)
	s.mu.Unlock()
	s.sample()
}

// Start begins sampling in a goroutine.
func (s *Sampler) Start() {
	s.stop, s.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(s.done)
		t := time.NewTicker(s.interval)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				s.sample()
			case <-s.stop:
				return
			}
		}
	}()
}

func (s *Sampler) sample() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, pids := range s.pids {
		var sum int64
		for _, pid := range pids {
			if p, err := ReadProc(pid); err == nil {
				sum += p.RSS
			}
		}
		s.peak[name] = max(s.peak[name], sum)
	}
}

// Stop ends sampling and returns the peak RSS seen per name.
func (s *Sampler) Stop() map[string]int64 {
	if s.stop != nil {
		close(s.stop)
		<-s.done
		s.stop = nil
	}
	s.sample()
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int64, len(s.peak))
	for k, v := range s.peak {
		out[k] = v
	}
	return out
}

// CPU returns the summed CPU time of pids; processes that are gone count 0.
func CPU(pids ...int) time.Duration {
	var d time.Duration
	for _, pid := range pids {
		if p, err := ReadProc(pid); err == nil {
			d += p.CPU
		}
	}
	return d
}

// CPUModel returns the first "model name" of /proc/cpuinfo.
func CPUModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}
