package main

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"time"
)

// machine is what the report says about where it ran.
type machine struct {
	CPU       string
	Cores     int
	GoVersion string
	OS        string
	Python    string // interpreter path
	PyVersion string // "CPython 3.11.2, msgpack 1.0.3 (C extension)"
	pythonErr error
	Date      time.Time
}

func probeEnv(cfg config) *machine {
	m := &machine{Cores: runtime.NumCPU(), GoVersion: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH, Date: time.Now().UTC()}
	m.CPU = cpuModel()
	m.Python, m.pythonErr = findPython(cfg.python)
	if m.pythonErr == nil {
		out, err := exec.Command(m.Python, "-c",
			"import platform, msgpack; print(platform.python_implementation(), platform.python_version() + ', msgpack', '.'.join(map(str, msgpack.version)), '(C extension)' if msgpack.Unpacker.__module__ != 'msgpack.fallback' else '(pure Python)')").Output()
		if err == nil {
			m.PyVersion = strings.TrimSpace(string(out))
		}
	}
	return m
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

// ---- statistics ----

// spread is the median and range of one measurement over rounds.
type spread struct{ Med, Min, Max float64 }

func spreadOf(xs []float64) spread {
	if len(xs) == 0 {
		return spread{math.NaN(), math.NaN(), math.NaN()}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return spread{Med: median(s), Min: s[0], Max: s[len(s)-1]}
}

func median(sorted []float64) float64 {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

// percentile of sorted durations, nearest rank.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

type latStats struct{ P50, P99, Max time.Duration }

func latencies(xs []time.Duration) latStats {
	s := slices.Clone(xs)
	slices.Sort(s)
	return latStats{percentile(s, 50), percentile(s, 99), percentile(s, 100)}
}

// fmtSpread formats a spread with f for each number: "12.3 (11.9–13.0)".
func fmtSpread(s spread, f func(float64) string) string {
	if math.IsNaN(s.Med) {
		return "—"
	}
	return fmt.Sprintf("%s (%s–%s)", f(s.Med), f(s.Min), f(s.Max))
}

func fmtRate(x float64) string {
	switch {
	case x >= 1e6:
		return fmt.Sprintf("%.2f M", x/1e6)
	case x >= 1e3:
		return fmt.Sprintf("%.1f k", x/1e3)
	}
	return fmt.Sprintf("%.1f", x)
}

// fmtMs formats milliseconds.
func fmtMs(x float64) string {
	switch {
	case x < 0.01:
		return fmt.Sprintf("%.1f µs", x*1e3)
	case x < 1:
		return fmt.Sprintf("%.3f ms", x)
	case x < 100:
		return fmt.Sprintf("%.2f ms", x)
	}
	return fmt.Sprintf("%.0f ms", x)
}

func fmtSec(x float64) string { return fmt.Sprintf("%.2f s", x) }

func fmtNum(x float64) string {
	if x == math.Trunc(x) {
		return fmt.Sprintf("%.0f", x)
	}
	return fmt.Sprintf("%.2f", x)
}

func fmtBytes(x float64) string {
	switch {
	case math.Abs(x) >= 1<<20:
		return fmt.Sprintf("%.2f MiB", x/(1<<20))
	case math.Abs(x) >= 1<<10:
		return fmt.Sprintf("%.2f KiB", x/(1<<10))
	}
	return fmt.Sprintf("%.0f B", x)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func ratio(a, b float64) string {
	if b == 0 || math.IsNaN(a) || math.IsNaN(b) {
		return "—"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

func yes(b bool) *bool { return &b }

// ---- the report ----

func writeReport(cfg config, m *machine, secs []*section) error {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	w("# Benchmarks\n\n")
	w("Produced by the harness in `test/bench/` (do not edit by hand; rerun it). ")
	if cfg.quick {
		w("**This is a -quick smoke run: the workloads are tiny and the numbers mean nothing.** ")
	}
	rounds := map[int]bool{}
	for _, s := range secs {
		rounds[s.Rounds] = true
	}
	if len(rounds) == 1 {
		w("Each scenario runs a warm-up, then %d measured rounds per side, alternating the compared sides; ", secs[0].Rounds)
	} else {
		w("Each scenario runs a warm-up, then measured rounds per side (as many as its section says), alternating the compared sides; ")
	}
	w("tables give the median over rounds and, in parentheses, the min–max over rounds.\n\n")
	w("Reproduce (from the repository root):\n\n```sh\n%s\n```\n\n", cfg.command)
	w("## Machine\n\n| | |\n|---|---|\n")
	w("| CPU | %s |\n| Cores (GOMAXPROCS) | %d (%d) |\n| OS | %s |\n| Go | %s |\n", m.CPU, m.Cores, runtime.GOMAXPROCS(0), m.OS, m.GoVersion)
	if m.pythonErr == nil {
		w("| Python | %s (`%s`) |\n", m.PyVersion, m.Python)
	} else {
		w("| Python | not available: %s |\n", oneLine(m.pythonErr.Error()))
	}
	w("| Date | %s |\n\n", m.Date.Format("2006-01-02 15:04 MST"))
	if cfg.chart != "" {
		w("Latency distributions (empirical CDFs): [%s](%s)\n\n", cfg.chart, cfg.chart)
	}
	w("## Summary\n\n| scenario | target | met |\n|---|---|---|\n")
	for _, s := range secs {
		met := "—"
		if s.Met != nil {
			met = map[bool]string{true: "yes", false: "**no**"}[*s.Met]
		}
		w("| [%s](#%s) | %s | %s |\n", s.Title, anchor(s.Title), s.Target, met)
	}
	w("\n")
	for _, s := range secs {
		w("## %s\n\n", s.Title)
		w("%s\n\n", s.What)
		if len(rounds) > 1 {
			w("%d measured rounds.\n\n", s.Rounds)
		}
		if s.Measured != "" {
			w("Measured %s by an earlier run of the harness (`-save`), reused in this report (`-reuse`).\n\n", s.Measured)
		}
		if s.Target != "" {
			met := ""
			if s.Met != nil {
				met = map[bool]string{true: " — **met**", false: " — **not met**"}[*s.Met]
			}
			w("Target: %s%s\n\n", s.Target, met)
		}
		w("| %s |\n|%s\n", strings.Join(s.Header, " | "), strings.Repeat("---|", len(s.Header)))
		for _, r := range s.Rows {
			w("| %s |\n", strings.Join(r, " | "))
		}
		w("\n")
		for _, n := range s.Notes {
			w("- %s\n", n)
		}
		if len(s.Notes) > 0 {
			w("\n")
		}
	}
	return os.WriteFile(cfg.out, []byte(b.String()), 0o644)
}

func anchor(title string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(title) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		case r == ' ':
			b.WriteByte('-')
		}
	}
	return b.String()
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
