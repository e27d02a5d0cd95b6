// robfig_next prints the next fire times of cron specs as robfig/cron v3 computes them.
//
// It reads one case per line on stdin, either a bare spec (read in -tz, counted from -after)
// or "ZONE<TAB>AFTER<TAB>SPEC" with AFTER in epoch seconds, and writes one line per case:
//
//	OK <epoch> <epoch> ...    accepted by the standard parser (5 fields, descriptors, CRON_TZ)
//	OK6 <epoch> ...           refused by the standard parser, accepted with a seconds field
//	ERR <message>             refused
//
// A fire time robfig cannot find (it gives up after five years) ends the list with "NONE".
// The standard parser is the one Asynq's scheduler uses (cron.New without options).
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	cron "github.com/robfig/cron/v3"
)

var secondsParser = cron.NewParser(
	cron.Second | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor,
)

// parse returns the schedule, whether only the seconds parser accepted it, and the error.
// robfig panics on a CRON_TZ= prefix with no space after it; that counts as refused.
func parse(spec string) (sched cron.Schedule, seconds bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			sched, seconds, err = nil, false, fmt.Errorf("parser panic: %v", r)
		}
	}()
	sched, err = cron.ParseStandard(spec)
	if err == nil {
		return sched, false, nil
	}
	if s, err6 := secondsParser.Parse(spec); err6 == nil {
		return s, true, nil
	}
	return nil, false, err
}

func main() {
	count := flag.Int("n", 5, "fire times per spec")
	zone := flag.String("tz", "UTC", "zone of a bare spec without CRON_TZ=")
	after := flag.String("after", "", "RFC 3339 start of a bare spec (default: now)")
	flag.Parse()

	defaultLoc, err := time.LoadLocation(*zone)
	if err != nil {
		fmt.Fprintf(os.Stderr, "-tz %s: %v\n", *zone, err)
		os.Exit(2)
	}
	defaultStart := time.Now()
	if *after != "" {
		if defaultStart, err = time.Parse(time.RFC3339, *after); err != nil {
			fmt.Fprintf(os.Stderr, "-after %s: %v\n", *after, err)
			os.Exit(2)
		}
	}

	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<20)
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	locs := map[string]*time.Location{}
	for in.Scan() {
		line := in.Text()
		loc, start, spec := defaultLoc, defaultStart, line
		if parts := strings.SplitN(line, "\t", 3); len(parts) == 3 {
			spec = parts[2]
			if loc = locs[parts[0]]; loc == nil {
				if loc, err = time.LoadLocation(parts[0]); err != nil {
					fmt.Fprintf(out, "ERR zone %s: %v\n", parts[0], err)
					continue
				}
				locs[parts[0]] = loc
			}
			epoch, err := strconv.ParseInt(parts[1], 10, 64)
			if err != nil {
				fmt.Fprintf(out, "ERR after %s: %v\n", parts[1], err)
				continue
			}
			start = time.Unix(epoch, 0)
		}
		sched, seconds, err := parse(spec)
		if err != nil {
			fmt.Fprintf(out, "ERR %s\n", strings.Join(strings.Fields(err.Error()), " "))
			continue
		}
		if seconds {
			out.WriteString("OK6")
		} else {
			out.WriteString("OK")
		}
		// As the cron runner does: the schedule sees "now" in the scheduler's location.
		t := start.In(loc)
		for i := 0; i < *count; i++ {
			t = sched.Next(t)
			if t.IsZero() {
				out.WriteString(" NONE")
				break
			}
			fmt.Fprintf(out, " %d", t.Unix())
		}
		out.WriteString("\n")
	}
	if err := in.Err(); err != nil {
		fmt.Fprintf(os.Stderr, "reading stdin: %v\n", err)
		os.Exit(1)
	}
}
