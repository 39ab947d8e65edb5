// SPDX-License-Identifier: MIT

package dataplane

import "testing"

// TestCapacityMatchesMaps: MaxPeers and MaxAllowedIPs, which the daemon
// checks configurations against, are the sizes of the maps.
func TestCapacityMatchesMaps(t *testing.T) {
	spec, err := loadWgbpf()
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]uint32{"peers": MaxPeers, "peer_stats": MaxPeers, "allowed_v4": MaxAllowedIPs, "allowed_v6": MaxAllowedIPs} {
		if got := spec.Maps[name].MaxEntries; got != want {
			t.Errorf("map %s holds %d entries, the constant says %d", name, got, want)
		}
	}
}
