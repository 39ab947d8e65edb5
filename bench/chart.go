// SPDX-License-Identifier: MIT

package main

import (
	"fmt"
	"image/color"
	"os"
	"strconv"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

var barColors = []color.RGBA{
	{0x88, 0x88, 0x88, 0xff}, // plain veth
	{0x1f, 0x77, 0xb4, 0xff}, // wgbpfd chacha20poly1305
	{0x2c, 0xa0, 0x2c, 0xff}, // wgbpfd aes-cbc
	{0xd6, 0x27, 0x28, 0xff}, // wireguard-go
}

// colorOf keys the colour on the target, not its place in the results, so
// that a run with -only keeps each configuration's colour.
func colorOf(t target) color.RGBA {
	for i, a := range allTargets {
		if a.key == t.key {
			return barColors[i%len(barColors)]
		}
	}
	return barColors[0]
}

// panel is one metric: a bar per configuration on its own scale.
type panel struct {
	title string
	value func(r *result) float64
}

var chartPanels = []panel{
	{"TCP 1 stream, Gbit/s", func(r *result) float64 { return r.tcp1.gbps }},
	{"TCP 4 streams, Gbit/s", func(r *result) float64 { return r.tcp4.gbps }},
	{"UDP 64 B, kpps delivered", func(r *result) float64 { return r.udpPPS / 1e3 }},
}

const (
	chartTitle = "wgbpfd vs plain veth and wireguard-go (one run)"
	chartW     = 11 * vg.Inch // 1056 × 528 pixels at vgimg's 96 dpi
	chartH     = 5.5 * vg.Inch
	barWidth   = 30 // points
)

// The default face is a serif; a sans reads better at chart sizes.
var sansFont = font.Font{Typeface: "Liberation", Variant: "Sans"}

func textStyle(size vg.Length, c color.Color) text.Style {
	return text.Style{Color: c, Font: font.From(sansFont, size), Handler: plot.DefaultTextHandler}
}

// writeChart draws the throughput and packet-rate numbers as bars, one
// panel per metric, with the machine and date underneath.
func writeChart(path string, results []*result) error {
	cpu, cores, kernel := machine()
	footer := fmt.Sprintf("%s, %d cores, kernel %s, %s", cpu, cores, kernel, time.Now().UTC().Format("2006-01-02"))
	c, err := drawChart(results, footer)
	if err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: c}).WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// drawChart lays out the title along the top, the panels side by side
// with their plot areas aligned, the legend to their right and the
// footer along the bottom.
func drawChart(results []*result, footer string) (*vgimg.Canvas, error) {
	img := vgimg.New(chartW, chartH)
	dc := draw.New(img)
	const pad = 12

	title := textStyle(15, color.Black)
	title.YAlign = text.YTop
	dc.FillText(title, vg.Point{X: dc.Min.X + pad, Y: dc.Max.Y - pad}, chartTitle)
	note := textStyle(9, color.Gray{0x50})
	note.YAlign = text.YBottom
	dc.FillText(note, vg.Point{X: dc.Min.X + pad, Y: dc.Min.Y + pad/2}, footer)

	legend, legendW, err := chartLegend(results)
	if err != nil {
		return nil, err
	}
	body := draw.Crop(dc, pad, -(legendW + 2*pad), 2*pad+note.Height(footer), -(2*pad + title.Height(chartTitle)))

	plots := make([]*plot.Plot, len(chartPanels))
	for i, p := range chartPanels {
		if plots[i], err = panelPlot(p, results); err != nil {
			return nil, fmt.Errorf("chart panel %q: %w", p.title, err)
		}
	}
	tiles := draw.Tiles{Rows: 1, Cols: len(plots), PadX: 2 * pad}
	for i, c := range plot.Align([][]*plot.Plot{plots}, tiles, body)[0] {
		plots[i].Draw(c)
	}
	// The legend's top lines up with the panels' titles.
	legendArea := draw.Crop(dc, dc.Size().X-legendW-pad, -pad, 0, body.Max.Y-dc.Max.Y)
	legend.Draw(legendArea)
	return img, nil
}

// panelPlot draws one metric: a bar per configuration at x = its place in
// results, its value above it, "failed" where the configuration failed.
func panelPlot(p panel, results []*result) (*plot.Plot, error) {
	pl := plot.New()
	pl.Title.Text = p.title
	pl.Title.TextStyle.Font = font.From(sansFont, 12)
	pl.Title.Padding = 8
	// The colours and the legend name the bars; the x axis is the baseline.
	pl.X.Tick.Marker = plot.ConstantTicks(nil)
	pl.X.Padding, pl.Y.Padding = 0, 0
	pl.X.Min, pl.X.Max = -0.5, float64(max(len(results), 1))-0.5
	pl.Y.Min = 0
	pl.Y.Tick.Label.Font = font.From(sansFont, 9)
	pl.Y.Tick.Marker = plainTicks

	grid := plotter.NewGrid()
	grid.Vertical.Color = nil
	pl.Add(grid)

	var labels plotter.XYLabels
	var styles []text.Style
	for i, r := range results {
		x := float64(i)
		if r.err != nil {
			labels.XYs = append(labels.XYs, plotter.XY{X: x})
			labels.Labels = append(labels.Labels, "failed")
			styles = append(styles, textStyle(9, color.Gray{0x50}))
			continue
		}
		v := p.value(r)
		bar, err := plotter.NewBarChart(plotter.Values{v}, barWidth)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r.t.title, err)
		}
		bar.XMin = x
		bar.Color = colorOf(r.t)
		bar.LineStyle.Width = 0
		pl.Add(bar)
		labels.XYs = append(labels.XYs, plotter.XY{X: x, Y: v})
		labels.Labels = append(labels.Labels, short(v))
		styles = append(styles, textStyle(11, color.Black))
	}
	if len(labels.Labels) > 0 {
		l, err := plotter.NewLabels(labels)
		if err != nil {
			return nil, err
		}
		for i := range styles {
			styles[i].XAlign, styles[i].YAlign = text.XCenter, text.YBottom
		}
		l.TextStyle = styles
		l.Offset = vg.Point{Y: 3}
		pl.Add(l)
	}
	// With every configuration failed the data span nothing, and the plot
	// would centre an empty range on 0; keep 0 at the bottom.
	if pl.Y.Max <= 0 {
		pl.Y.Max = 1
	}
	return pl, nil
}

// plainTicks are the default ticks with their labels in the fewest
// digits (2.5 rather than 2.50, 0 rather than 0.00).
var plainTicks = plot.TickerFunc(func(min, max float64) []plot.Tick {
	ts := plot.DefaultTicks{}.Ticks(min, max)
	for i := range ts {
		if ts[i].Label != "" {
			ts[i].Label = strconv.FormatFloat(ts[i].Value, 'f', -1, 64)
		}
	}
	return ts
})

// chartLegend names every configuration, failed ones too, by its colour,
// and returns the width it needs.
func chartLegend(results []*result) (plot.Legend, vg.Length, error) {
	l := plot.NewLegend()
	l.TextStyle = textStyle(12, color.Black)
	l.Left, l.Top = true, true
	l.ThumbnailWidth = 18
	l.Padding = 6
	var w vg.Length
	for _, r := range results {
		thumb, err := plotter.NewBarChart(plotter.Values{0}, barWidth)
		if err != nil {
			return l, 0, err
		}
		thumb.Color = colorOf(r.t)
		thumb.LineStyle.Width = 0
		l.Add(r.t.title, thumb)
		w = max(w, l.TextStyle.Width(r.t.title))
	}
	return l, w + l.ThumbnailWidth + l.TextStyle.Width(" "), nil
}

func short(v float64) string {
	switch {
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
}
