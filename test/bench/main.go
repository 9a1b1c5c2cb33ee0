// Command bench is socketscience's benchmark harness. It runs each scenario
// with a warm-up and several rounds, alternating the compared sides, and
// writes BENCHMARKS.md (a table per scenario: medians, min–max spread and
// ratios, plus the machine) and a chart of latency distributions.
//
//	go run ./test/bench                      # every scenario, full length
//	go run ./test/bench -quick               # smoke run, a few hundred ms each
//	go run ./test/bench -scenarios inbound,isolation -rounds 7
//
// The Python side of the inbound scenario needs python3 with the msgpack
// package (Debian: python3-msgpack); -python picks the interpreter.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
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
}

var allScenarios = []string{"inbound", "isolation", "e2e", "ratelimit", "memory", "recovery", "matrix"}

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
	flag.Parse()
	cfg.scenarios = splitList(list)
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
	for _, a := range args {
		if strings.ContainsAny(a, " \t'\"$") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		q = append(q, a)
	}
	return strings.Join(q, " ")
}

// section is one scenario's results, as the report shows them.
type section struct {
	Key    string
	Title  string
	What   string   // how it was measured
	Target string   // the target, as stated
	Met    *bool    // nil: no target
	Header []string // table
	Rows   [][]string
	Notes  []string
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
		start := time.Now()
		fmt.Fprintf(cfg.log, "bench: %s ...\n", name)
		s, err := fn(ctx, cfg, env)
		if err != nil {
			return fmt.Errorf("scenario %s: %w", name, err)
		}
		s.Key = name
		fmt.Fprintf(cfg.log, "bench: %s done in %v\n", name, time.Since(start).Round(time.Millisecond))
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
	"recovery":  runRecovery,
	"matrix":    runMatrix,
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
