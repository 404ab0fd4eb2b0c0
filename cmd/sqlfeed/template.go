package main

import (
	"fmt"
	"os"
	"time"

	"github.com/sqlfeed/sqlfeed/exporters/check"
	"github.com/sqlfeed/sqlfeed/infra/config"
	"github.com/sqlfeed/sqlfeed/infra/samtemplate"
)

// checkTemplate checks the SAM template at path against the feeds of cfg:
// one schedule per feed with the same expression (sharded feeds on the state
// machine, the others on the function), no schedule for a missing feed, the template's security properties, and its safe deploys: schedules
// on the alias, a PreTraffic hook, alarms on the executed version and
// staleness alarms no shorter than each feed's interval.
func checkTemplate(cfg *config.File, path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("template: %w", err)
	}
	feeds := make(map[string]string, len(cfg.Feeds))
	sharded := map[string]bool{}
	for _, f := range cfg.Feeds {
		feeds[f.Name] = f.Schedule
		sharded[f.Name] = f.Pages != nil && f.Shards > 0
	}
	if err := samtemplate.CheckSchedules(b, feeds, sharded); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := samtemplate.CheckSecurity(b); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	intervals := make(map[string]time.Duration, len(cfg.Feeds))
	for _, f := range cfg.Feeds {
		d, err := check.Interval(f.Schedule, time.Now())
		if err != nil {
			return fmt.Errorf("feed %q: %w", f.Name, err)
		}
		intervals[f.Name] = d
	}
	if err := samtemplate.CheckDeploy(b, intervals); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
