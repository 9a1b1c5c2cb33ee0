package main

import (
	"fmt"
	"image/color"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

var palette = []color.Color{
	color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
	color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
	color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff},
}

// writeChart draws one panel per scenario with latency samples: the
// empirical CDF of each side, on a log time axis.
func writeChart(path string, secs []*section) error {
	var panels []*plot.Plot
	for _, s := range secs {
		if len(s.Latencies) == 0 {
			continue
		}
		p, err := cdfPlot(s)
		if err != nil {
			return err
		}
		panels = append(panels, p)
	}
	if len(panels) == 0 {
		p := plot.New()
		p.Title.Text = "no latency scenarios were run"
		panels = append(panels, p)
	}
	return writePanels(path, panels)
}

// writePanels draws panels one above the other into path (.svg or .png).
func writePanels(path string, panels []*plot.Plot) error {
	w, h := 16*vg.Centimeter, vg.Length(len(panels))*8*vg.Centimeter
	var c interface {
		vg.CanvasSizer
	}
	var write func() error
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	switch strings.ToLower(filepath.Ext(path)) {
	case ".png":
		img := vgimg.New(w, h)
		c = img
		write = func() error { _, err := vgimg.PngCanvas{Canvas: img}.WriteTo(f); return err }
	case ".svg":
		svg := vgsvg.New(w, h)
		c = svg
		write = func() error { _, err := svg.WriteTo(f); return err }
	default:
		return fmt.Errorf("chart %s: want .svg or .png", path)
	}
	dc := draw.New(c)
	rows := make([][]*plot.Plot, len(panels))
	for i, p := range panels {
		rows[i] = []*plot.Plot{p}
	}
	tiles := draw.Tiles{Rows: len(panels), Cols: 1, PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2,
		PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 4, PadY: vg.Millimeter * 6}
	canvases := plot.Align(rows, tiles, dc)
	for i, p := range panels {
		p.Draw(canvases[i][0])
	}
	if err := write(); err != nil {
		return err
	}
	return f.Close()
}

func cdfPlot(s *section) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = s.Title
	unit, scale := "ms", float64(time.Millisecond)
	if strings.HasPrefix(s.Unit, "s") {
		unit, scale = s.Unit, float64(time.Second)
	}
	p.X.Label.Text = "latency (" + unit + ", log scale)"
	p.Y.Label.Text = "fraction delivered"
	p.Y.Min, p.Y.Max = 0, 1
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Legend.Top = false
	p.Legend.Left = false
	p.Add(plotter.NewGrid())
	lo := 1e-3 // axis floor: 1 µs in ms, 1 ms in s
	for i, sr := range s.Latencies {
		if len(sr.Samples) == 0 {
			continue
		}
		xs := slices.Clone(sr.Samples)
		slices.Sort(xs)
		// At most ~400 points per line.
		step := max(1, len(xs)/400)
		var pts plotter.XYs
		for j := 0; j < len(xs); j += step {
			pts = append(pts, plotter.XY{X: max(float64(xs[j])/scale, lo), Y: float64(j+1) / float64(len(xs))})
		}
		pts = append(pts, plotter.XY{X: max(float64(xs[len(xs)-1])/scale, lo), Y: 1})
		l, err := plotter.NewLine(pts)
		if err != nil {
			return nil, err
		}
		l.Color = palette[i%len(palette)]
		l.Width = vg.Points(1.5)
		p.Add(l)
		p.Legend.Add(fmt.Sprintf("%s (n=%d)", sr.Name, len(xs)), l)
	}
	return p, nil
}
