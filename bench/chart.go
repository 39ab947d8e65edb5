package main

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math"
	"os"
	"strconv"
	"time"
)

var barColors = []color.RGBA{
	{0x88, 0x88, 0x88, 0xff}, // plain veth
	{0x1f, 0x77, 0xb4, 0xff}, // wgbpfd chacha20poly1305
	{0x2c, 0xa0, 0x2c, 0xff}, // wgbpfd aes-cbc
	{0xd6, 0x27, 0x28, 0xff}, // wireguard-go
}

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

// writeChart draws the throughput and packet-rate numbers as bars.
func writeChart(path string, results []*result) error {
	panels := []panel{
		{"TCP 1 STREAM, GBIT/S", func(r *result) float64 { return r.tcp1.gbps }},
		{"TCP 4 STREAMS, GBIT/S", func(r *result) float64 { return r.tcp4.gbps }},
		{"UDP 64 B, KPPS DELIVERED", func(r *result) float64 { return r.udpPPS / 1e3 }},
	}
	const (
		pw, ph  = 340, 360 // one panel
		margin  = 20
		top     = 50
		legendH = 30
		ts      = 2 // text scale
	)
	w := margin*2 + pw*len(panels)
	h := top + ph + legendH*(len(results)+1) + margin
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	black := color.RGBA{0x20, 0x20, 0x20, 0xff}
	grey := color.RGBA{0xcc, 0xcc, 0xcc, 0xff}
	drawText(img, margin, 14, "WGBPFD VS PLAIN VETH AND WIREGUARD-GO (ONE RUN)", ts, black)

	for pi, p := range panels {
		x0 := margin + pi*pw
		drawText(img, x0+10, top, p.title, ts, black)
		maxV := 0.0
		for _, r := range results {
			if r.err == nil {
				maxV = math.Max(maxV, p.value(r))
			}
		}
		if maxV <= 0 {
			maxV = 1
		}
		// Plot area.
		ax, ay := x0+20, top+40 // top-left
		aw, ah := pw-40, ph-90
		base := ay + ah
		draw.Draw(img, image.Rect(ax, base, ax+aw, base+2), image.NewUniform(black), image.Point{}, draw.Src)
		for i := 1; i <= 4; i++ {
			y := base - ah*i/4
			draw.Draw(img, image.Rect(ax, y, ax+aw, y+1), image.NewUniform(grey), image.Point{}, draw.Src)
		}
		n := max(len(results), 1)
		slot := aw / n
		bw := slot * 2 / 3
		for i, r := range results {
			bx := ax + i*slot + (slot-bw)/2
			label := "FAILED"
			if r.err == nil {
				v := p.value(r)
				bh := int(float64(ah-30) * v / maxV)
				draw.Draw(img, image.Rect(bx, base-bh, bx+bw, base), image.NewUniform(colorOf(r.t)), image.Point{}, draw.Src)
				label = short(v)
				drawText(img, bx+bw/2-textWidth(label, ts)/2, base-bh-20, label, ts, black)
			} else {
				drawText(img, bx+bw/2-textWidth(label, 1)/2, base-12, label, 1, black)
			}
		}
	}
	// Legend.
	for i, r := range results {
		y := top + ph + i*legendH
		draw.Draw(img, image.Rect(margin+10, y, margin+34, y+18), image.NewUniform(colorOf(r.t)), image.Point{}, draw.Src)
		drawText(img, margin+44, y+2, r.t.title, ts, black)
	}

	cpu, cores, kernel := machine()
	drawText(img, margin+10, top+ph+len(results)*legendH+6,
		fmt.Sprintf("%s, %d CORES, KERNEL %s, %s", cpu, cores, kernel, time.Now().UTC().Format("2006-01-02")), 1, black)

	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
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
