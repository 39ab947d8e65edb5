// SPDX-License-Identifier: MIT

package handshake

import (
	"testing"
	"time"
)

func TestLoadDetector(t *testing.T) {
	var d LoadDetector
	if d.UnderLoad(127, 1024, t0) {
		t.Fatal("under load below 1/8 of the queue")
	}
	if !d.UnderLoad(128, 1024, t0) {
		t.Fatal("not under load at 1/8 of the queue")
	}
	if !d.UnderLoad(0, 1024, t0.Add(999*time.Millisecond)) {
		t.Fatal("load forgotten within a second")
	}
	if d.UnderLoad(0, 1024, t0.Add(UnderLoadAfterTime)) {
		t.Fatal("still under load a second after the queue emptied")
	}
}
