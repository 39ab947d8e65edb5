package dataplane

import "testing"

// TestMaxPeersMatchesMaps: MaxPeers, which the daemon checks configurations
// against, is the size of the maps that hold a peer.
func TestMaxPeersMatchesMaps(t *testing.T) {
	spec, err := loadWgbpf()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"peers", "peer_stats"} {
		if got := spec.Maps[name].MaxEntries; got != MaxPeers {
			t.Errorf("map %s holds %d peers, MaxPeers is %d", name, got, MaxPeers)
		}
	}
}
