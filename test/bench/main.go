// Command bench is socketscience's benchmark harness. It runs each scenario
// with a warm-up and several rounds, alternating the compared sides, and
// writes BENCHMARKS.md (a table per scenario: medians, min–max spread and
// ratios, plus the machine) and a chart of latency distributions.
//
//	go run ./test/bench                      # every scenario, full length
//	go run ./test/bench -quick               # smoke run, a few hundred ms each
//	go run ./test/bench -scenarios inbound,isolation -rounds 7
//	go run ./test/bench -scenarios memory -save .bench -out /tmp/m.md   # the long one, once
//	go run ./test/bench -save .bench -reuse memory                     # the rest, with it
//
// The Python side of the inbound scenario needs python3 with the msgpack
// package (Debian: python3-msgpack); -python picks the interpreter.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// config is what one run of the harness does.
type config struct {
	scenarios []string
	rounds    int
	duration  time.Duration // target length of one throughput measurement
	quick     bool
	out       string // BENCHMARKS.md path
	chart     string // .svg or .png
	python    string // interpreter with msgpack; "" finds one
	// requirePython makes a missing python3-msgpack an error rather than a
	// skipped side.
	requirePython bool
	command       string // how to reproduce, for the report
	log           io.Writer
	// save, if set, is a directory each scenario's results are written
	// to (<name>.json); reuse names scenarios whose results are read from
	// there instead of run, so that a long scenario measured once can go
	// into a later report. The report says which were reused.
	save  string
	reuse []string
}

var allScenarios = []string{"inbound", "isolation", "e2e", "ratelimit", "memory", "recovery", "matrix", "rooms", "presence"}

func main() {
	cfg := config{log: os.Stderr}
	var list string
	flag.StringVar(&list, "scenarios", strings.Join(allScenarios, ","), "comma-separated scenarios: "+strings.Join(allScenarios, ", "))
	flag.IntVar(&cfg.rounds, "rounds", 5, "measured rounds per side (after one warm-up round)")
	flag.DurationVar(&cfg.duration, "duration", time.Second, "target length of one throughput measurement")
	flag.BoolVar(&cfg.quick, "quick", false, "smoke run: 2 rounds, tiny workloads (numbers are not meaningful)")
	flag.StringVar(&cfg.out, "out", "BENCHMARKS.md", "report path")
	flag.StringVar(&cfg.chart, "chart", "docs/benchmarks-latency.svg", "chart path (.svg or .png)")
	flag.StringVar(&cfg.python, "python", "", "python3 with msgpack (default: the first of python3, /usr/bin/python3 that imports msgpack)")
	flag.BoolVar(&cfg.requirePython, "require-python", os.Getenv("CI") == "true", "fail when no python3 with msgpack is found (default true under CI=true)")
	var reuse string
	flag.StringVar(&cfg.save, "save", "", "directory to write each scenario's results to, for -reuse")
	flag.StringVar(&reuse, "reuse", "", "comma-separated scenarios whose results are read from -save's directory instead of run")
	flag.Parse()
	cfg.scenarios = splitList(list)
	cfg.reuse = splitList(reuse)
	if len(cfg.reuse) > 0 && cfg.save == "" {
		fmt.Fprintln(os.Stderr, "bench: -reuse needs -save")
		os.Exit(2)
	}
	cfg.command = reproduceCommand(os.Args[1:])
	if err := run(context.Background(), cfg); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func reproduceCommand(args []string) string {
	q := make([]string, 0, len(args)+3)
	q = append(q, "go", "run", "./test/bench")
	for i := 0; i < len(args); i++ {
		a := args[i]
		// -save and -reuse assemble a report from earlier runs; measuring
		// again needs neither.
		if name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "="); strings.HasPrefix(a, "-") && (name == "save" || name == "reuse") {
			if !strings.Contains(a, "=") {
				i++ // its value
			}
			continue
		}
		if strings.ContainsAny(a, " \t'\"$") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		q = append(q, a)
	}
	return strings.Join(q, " ")
}

// section is one scenario's results, as the report shows them.
type section struct {
	Key string
	// Measured, set on a section read back with -reuse, is when it was
	// measured; the report says so. Rounds is how many rounds it ran.
	Measured string
	Rounds   int
	Title    string
	What     string   // how it was measured
	Target   string   // the target, as stated
	Met      *bool    // nil: no target
	Header   []string // table
	Rows     [][]string
	Notes    []string
	// Latencies are the pooled samples of each side, for the chart.
	Latencies []series
	Unit      string // of Latencies' axis: "ms" or "s (virtual)"
}

type series struct {
	Name    string
	Samples []time.Duration
}

func run(ctx context.Context, cfg config) error {
	if cfg.rounds < 1 {
		cfg.rounds = 1
	}
	if cfg.quick {
		cfg.rounds = min(cfg.rounds, 2)
		cfg.duration = min(cfg.duration, 100*time.Millisecond)
	}
	if cfg.log == nil {
		cfg.log = io.Discard
	}
	env := probeEnv(cfg)
	if env.pythonErr != nil && cfg.requirePython {
		return fmt.Errorf("python3 with msgpack is required (CI=true or -require-python): %w", env.pythonErr)
	}
	var secs []*section
	for _, name := range cfg.scenarios {
		fn, ok := scenarioFuncs[name]
		if !ok {
			return fmt.Errorf("unknown scenario %q (have %s)", name, strings.Join(allScenarios, ", "))
		}
		if slices.Contains(cfg.reuse, name) {
			s, err := loadSection(cfg.save, name)
			if err != nil {
				return fmt.Errorf("scenario %s: %w", name, err)
			}
			fmt.Fprintf(cfg.log, "bench: %s reused from %s\n", name, s.Measured)
			secs = append(secs, s)
			continue
		}
		start := time.Now()
		fmt.Fprintf(cfg.log, "bench: %s ...\n", name)
		s, err := fn(ctx, cfg, env)
		if err != nil {
			return fmt.Errorf("scenario %s: %w", name, err)
		}
		s.Key, s.Rounds = name, cfg.rounds
		fmt.Fprintf(cfg.log, "bench: %s done in %v\n", name, time.Since(start).Round(time.Millisecond))
		if cfg.save != "" {
			if err := saveSection(cfg.save, s); err != nil {
				return err
			}
		}
		secs = append(secs, s)
	}
	if cfg.chart != "" {
		if err := os.MkdirAll(filepath.Dir(cfg.chart), 0o755); err != nil {
			return err
		}
		if err := writeChart(cfg.chart, secs); err != nil {
			return fmt.Errorf("chart: %w", err)
		}
	}
	return writeReport(cfg, env, secs)
}

var scenarioFuncs = map[string]func(context.Context, config, *machine) (*section, error){
	"inbound":   runInbound,
	"isolation": runIsolation,
	"e2e":       runE2E,
	"ratelimit": runRateLimit,
	"memory":    runMemory,
	"rooms":     runRooms,
	"recovery":  runRecovery,
	"matrix":    runMatrix,
	"presence":  runPresence,
}

// findPython returns the first interpreter that imports msgpack.
func findPython(want string) (string, error) {
	cands := []string{"python3", "/usr/bin/python3"}
	if want != "" {
		cands = []string{want}
	}
	var errs []error
	for _, c := range cands {
		out, err := exec.Command(c, "-c", "import msgpack").CombinedOutput()
		if err == nil {
			return c, nil
		}
		errs = append(errs, fmt.Errorf("%s: %v: %s", c, err, strings.TrimSpace(string(out))))
	}
	return "", errors.Join(errs...)
}

// saveSection writes s to dir/<key>.json, with when it was measured.
func saveSection(dir string, s *section) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	saved := *s
	saved.Measured = time.Now().UTC().Format("2006-01-02 15:04 UTC")
	raw, err := json.Marshal(&saved)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, s.Key+".json"), raw, 0o644)
}

// loadSection reads back what saveSection wrote for name.
func loadSection(dir, name string) (*section, error) {
	raw, err := os.ReadFile(filepath.Join(dir, name+".json"))
	if err != nil {
		return nil, fmt.Errorf("reuse: %w", err)
	}
	var s section
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("reuse %s: %w", name, err)
	}
	return &s, nil
}
