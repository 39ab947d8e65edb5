// SPDX-License-Identifier: MIT

package netif

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// TableMode is what the Table= setting asks for.
type TableMode int

const (
	// TableAuto (the default, also "auto"): routes in the main table, except
	// a /0, which switches to the fwmark full-tunnel scheme.
	TableAuto TableMode = iota
	// TableOff ("off"): no routes at all.
	TableOff
	// TableID (a number or a name from rt_tables): every route, /0
	// included, goes into that table and no rules are added.
	TableID
)

// Table is a parsed Table= value.
type Table struct {
	Mode TableMode
	ID   int // only for TableID
}

func (t Table) String() string {
	switch t.Mode {
	case TableAuto:
		return "auto"
	case TableOff:
		return "off"
	}
	return strconv.Itoa(t.ID)
}

// rtTablesPaths are where iproute2 keeps table names: /etc overrides the
// distribution defaults in /usr/share (newer iproute2 ships only the
// latter), and each may have a .d directory of *.conf fragments.
var rtTablesPaths = []string{"/etc/iproute2/rt_tables", "/usr/share/iproute2/rt_tables"}

// ParseTable parses a Table= value: "" or "auto", "off", a number, or a
// table name known to iproute2 (main, local, default or one from rt_tables).
func ParseTable(s string) (Table, error) {
	return parseTable(s, rtTablesPaths)
}

func parseTable(s string, paths []string) (Table, error) {
	s = strings.TrimSpace(s)
	switch s {
	case "", "auto":
		return Table{Mode: TableAuto}, nil
	case "off":
		return Table{Mode: TableOff}, nil
	}
	if id, err := strconv.ParseUint(s, 0, 32); err == nil {
		return checkTableID(s, int64(id))
	}
	names, err := readTableNames(paths)
	if err != nil {
		return Table{}, err
	}
	if id, ok := names[s]; ok {
		return checkTableID(s, id)
	}
	return Table{}, fmt.Errorf("table %q: not a number and not a name in %s", s, strings.Join(paths, " or "))
}

// checkTableID rejects table 0 (RT_TABLE_UNSPEC, which the kernel reads as
// "main" on add but "all tables" on delete and dump).
func checkTableID(s string, id int64) (Table, error) {
	if id <= unix.RT_TABLE_UNSPEC || id > 0xffffffff {
		return Table{}, fmt.Errorf("table %q: id %d out of range 1..4294967295", s, id)
	}
	return Table{Mode: TableID, ID: int(id)}, nil
}

// readTableNames reads the built-in names, then each file and its .d
// fragments. Earlier paths take precedence, matching iproute2, which reads
// /etc and falls back to /usr/share.
func readTableNames(paths []string) (map[string]int64, error) {
	names := map[string]int64{}
	var files []string
	for _, p := range paths {
		files = append(files, p)
		frags, err := filepath.Glob(p + ".d/*.conf")
		if err != nil {
			return nil, fmt.Errorf("list %s.d: %w", p, err)
		}
		sort.Strings(frags)
		files = append(files, frags...)
	}
	for _, f := range files {
		if err := readTableFile(f, names); err != nil {
			return nil, err
		}
	}
	for name, id := range map[string]int64{"local": unix.RT_TABLE_LOCAL, "main": unix.RT_TABLE_MAIN, "default": unix.RT_TABLE_DEFAULT} {
		names[name] = id
	}
	return names, nil
}

// readTableFile adds "id name" lines from path to names, keeping entries
// already present; a missing file is normal.
func readTableFile(path string, names map[string]int64) error {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("read table names: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue
		}
		id, err := strconv.ParseUint(fields[0], 0, 32)
		if err != nil {
			continue // iproute2 skips malformed lines too
		}
		if _, ok := names[fields[1]]; !ok {
			names[fields[1]] = int64(id)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read table names from %s: %w", path, err)
	}
	return nil
}
