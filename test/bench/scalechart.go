package main

import (
	"os"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// scalePoint is one count of idle nodes on a shared Runtime and what each
// costs: heap bytes, goroutines, and process CPU seconds over the idle
// window.
type scalePoint struct {
	nodes                 int
	heap, goroutines, cpu float64
}

// scaleChartPath is where the scale chart goes: beside the latency chart,
// named benchmarks-scale with its extension.
func scaleChartPath(latencyChart string) string {
	return filepath.Join(filepath.Dir(latencyChart), "benchmarks-scale"+strings.ToLower(filepath.Ext(latencyChart)))
}

// writeScaleChart draws heap, goroutines and idle CPU per node against the
// count of idle nodes on one Runtime, each on a log node axis.
func writeScaleChart(path string, pts []scalePoint, window string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	panels := []*plot.Plot{}
	for _, m := range []struct {
		title, unit string
		scale       float64
		value       func(scalePoint) float64
	}{
		{"heap per idle node", "KiB", 1.0 / 1024, func(p scalePoint) float64 { return p.heap }},
		{"goroutines per idle node", "goroutines", 1, func(p scalePoint) float64 { return p.goroutines }},
		{"process CPU per idle node over " + window, "µs", 1e6, func(p scalePoint) float64 { return p.cpu }},
	} {
		p := plot.New()
		p.Title.Text = "Scale: " + m.title + " (nodes on one shared Runtime)"
		p.X.Label.Text = "idle nodes (log scale)"
		p.Y.Label.Text = m.unit
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = plot.LogTicks{Prec: -1}
		p.Y.Min = 0
		p.Add(plotter.NewGrid())
		xy := make(plotter.XYs, len(pts))
		for i, pt := range pts {
			xy[i] = plotter.XY{X: float64(pt.nodes), Y: m.value(pt) * m.scale}
			p.Y.Max = max(p.Y.Max, 1.2*xy[i].Y) // room above the line
		}
		l, s, err := plotter.NewLinePoints(xy)
		if err != nil {
			return err
		}
		l.Color, s.Color = palette[0], palette[0]
		l.Width = vg.Points(1.5)
		p.Add(l, s)
		panels = append(panels, p)
	}
	return writePanels(path, panels)
}
