// SPDX-License-Identifier: MIT

package main

import (
	"errors"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"testing"
)

// chartResults is one run with fixed numbers: plain veth first in every
// panel, then wireguard-go, then chacha20poly1305; aes-cbc failed.
func chartResults() []*result {
	rs := make([]*result, len(allTargets))
	for i, t := range allTargets {
		rs[i] = &result{t: t}
	}
	rs[0].tcp1.gbps, rs[0].tcp4.gbps, rs[0].udpPPS = 38.2, 61.5, 1.9e6
	rs[1].tcp1.gbps, rs[1].tcp4.gbps, rs[1].udpPPS = 1.12, 1.31, 410e3
	rs[2].err = errors.New("setup failed")
	rs[3].tcp1.gbps, rs[3].tcp4.gbps, rs[3].udpPPS = 2.45, 2.9, 620e3
	return rs
}

// renderChart writes the chart for rs and decodes it again.
func renderChart(t *testing.T, rs []*result) image.Image {
	t.Helper()
	path := filepath.Join(t.TempDir(), "bench.png")
	if err := writeChart(path, rs); err != nil {
		t.Fatalf("writeChart: %v", err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s is not a PNG: %v", path, err)
	}
	if b := img.Bounds(); b.Dx() < 800 || b.Dx() > 2000 || b.Dy() < 400 || b.Dy() > 1200 {
		t.Fatalf("chart is %d×%d pixels, want about 1056×528", b.Dx(), b.Dy())
	}
	// BENCH_CHART_KEEP=file keeps the chart to look at.
	if keep := os.Getenv("BENCH_CHART_KEEP"); keep != "" {
		b, err := os.ReadFile(path)
		if err == nil {
			err = os.WriteFile(keep, b, 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return img
}

// countColors counts the pixels of each exact colour in cs.
func countColors(img image.Image, cs []color.RGBA) []int {
	n := make([]int, len(cs))
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, a := img.At(x, y).RGBA()
			for i, c := range cs {
				cr, cg, cb, ca := c.RGBA()
				if r == cr && g == cg && bl == cb && a == ca {
					n[i]++
				}
			}
		}
	}
	return n
}

// isSwatch says whether n pixels of a colour are a legend swatch alone:
// 18 by 12 points, 24 by 16 pixels less the anti-aliased edge (299 px).
func isSwatch(n int) bool { return n > 150 && n < 600 }

// TestChart renders a chart from fixed numbers and checks that the bars
// are there in each configuration's colour, as tall as the numbers say,
// and that there is text on it.
func TestChart(t *testing.T) {
	rs := chartResults()
	img := renderChart(t, rs)
	cols := make([]color.RGBA, len(rs))
	for i, r := range rs {
		cols[i] = colorOf(r.t)
	}
	n := countColors(img, cols)
	t.Logf("pixels per colour (veth, chacha, aes, wireguard-go): %v", n)
	veth, chacha, aes, wggo := n[0], n[1], n[2], n[3]
	if !isSwatch(aes) {
		t.Errorf("failed configuration has %d pixels of its colour, want only its legend swatch", aes)
	}
	// Plain veth fills all three panels to the top: 3 bars of 40 px by
	// about 350 px.
	if veth < 3*40*250 {
		t.Errorf("plain veth has %d pixels of its colour, want three full-height bars (over %d)", veth, 3*40*250)
	}
	// Bar areas follow the values relative to plain veth in each panel:
	// wireguard-go 0.064+0.047+0.326, chacha20poly1305 0.029+0.021+0.216.
	bars := func(px int) float64 { return float64(px - aes) }
	ratio := func(px int) float64 { return bars(px) / bars(veth) }
	if got, want := ratio(wggo), (0.064+0.047+0.326)/3; got < want*0.85 || got > want*1.15 {
		t.Errorf("wireguard-go bars are %.3f of plain veth's, want %.3f", got, want)
	}
	if got, want := ratio(chacha), (0.029+0.021+0.216)/3; got < want*0.85 || got > want*1.15 {
		t.Errorf("chacha20poly1305 bars are %.3f of plain veth's, want %.3f", got, want)
	}

	// Text: the title along the top, the footer along the bottom, and
	// plain veth's value just above its first bar.
	b := img.Bounds()
	bar, ok := firstBar(img, cols[0])
	if !ok {
		t.Fatal("no plain veth bar")
	}
	title := darkPixels(img, image.Rect(b.Min.X, b.Min.Y, b.Max.X, b.Min.Y+40))
	footer := darkPixels(img, image.Rect(b.Min.X, b.Max.Y-20, b.Max.X, b.Max.Y))
	value := darkPixels(img, image.Rect(bar.Min.X, bar.Min.Y-20, bar.Max.X, bar.Min.Y))
	t.Logf("dark pixels: title %d, footer %d, value above the bar at %v %d", title, footer, bar, value)
	if title < 300 {
		t.Error("no title in the top 40 rows")
	}
	if footer < 200 {
		t.Error("no footer in the bottom 20 rows")
	}
	if value < 30 {
		t.Error("no value above plain veth's first bar")
	}
}

// TestChartAllFailed checks that a run where every configuration failed
// still gives a chart (legend and "failed" marks) rather than an error,
// with its value axes from 0 up.
func TestChartAllFailed(t *testing.T) {
	rs := chartResults()
	for _, r := range rs {
		r.err = errors.New("setup failed")
	}
	for _, p := range chartPanels {
		pl, err := panelPlot(p, rs)
		if err != nil {
			t.Fatalf("%s: %v", p.title, err)
		}
		if pl.Y.Min != 0 || pl.Y.Max <= 0 {
			t.Errorf("%s: value axis from %g to %g, want from 0 up", p.title, pl.Y.Min, pl.Y.Max)
		}
	}
	img := renderChart(t, rs)
	cols := make([]color.RGBA, len(rs))
	for i, r := range rs {
		cols[i] = colorOf(r.t)
	}
	for i, n := range countColors(img, cols) {
		if !isSwatch(n) {
			t.Errorf("%s: %d pixels of its colour, want only its legend swatch", rs[i].t.title, n)
		}
	}
}

// darkPixels counts the pixels in r dark enough to be text or lines
// (the footer's grey text included, plain veth's grey bars not).
func darkPixels(img image.Image, r image.Rectangle) int {
	n := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if color.GrayModel.Convert(img.At(x, y)).(color.Gray).Y < 0x80 {
				n++
			}
		}
	}
	return n
}

// firstBar finds the leftmost run of columns holding at least 20 pixels
// of c (more than anti-aliased text can) and the top of its middle column.
func firstBar(img image.Image, c color.RGBA) (image.Rectangle, bool) {
	b := img.Bounds()
	has := func(x, y int) bool { return color.RGBAModel.Convert(img.At(x, y)) == c }
	column := func(x int) (top int, ok bool) {
		n := 0
		for y := b.Min.Y; y < b.Max.Y; y++ {
			if has(x, y) {
				if n == 0 {
					top = y
				}
				n++
			}
		}
		return top, n >= 20
	}
	x0 := b.Min.X
	for ; x0 < b.Max.X; x0++ {
		if _, ok := column(x0); ok {
			break
		}
	}
	x1 := x0
	for ; x1 < b.Max.X; x1++ {
		if _, ok := column(x1); !ok {
			break
		}
	}
	top, ok := column((x0 + x1) / 2)
	return image.Rect(x0, top, x1, b.Max.Y), ok
}
