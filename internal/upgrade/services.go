package upgrade

import (
	"slices"
	"strings"
)

// renameRule is one way to recognise a service that a release renamed:
// Compose sees a removed and an added service, but the admin should read
// "redis is now valkey".
type renameRule struct {
	reason string
	match  func(old, new service) bool
}

// renameRules are tried in order; a removed and an added service are paired
// by the first rule that matches exactly one added service for the removed
// one and exactly one removed service for the added one, so an ambiguous
// match pairs nothing:
//  1. the new service carries the old name as a network alias (CARTO's
//     valkey keeps the alias redis so that REDIS_HOST=redis still works), or
//     the old one carried the new name;
//  2. both use the same image: expression (the same *_DOCKER_IMAGE
//     variable);
//  3. both publish the same host ports;
//  4. both mount the same named volumes (the data moves with the service).
var renameRules = []renameRule{
	{"network alias", func(o, n service) bool {
		return slices.Contains(n.aliases, o.name) || slices.Contains(o.aliases, n.name)
	}},
	{"same image variable", func(o, n service) bool { return o.image != "" && o.image == n.image }},
	{"same published ports", func(o, n service) bool { return len(o.ports) > 0 && slices.Equal(o.ports, n.ports) }},
	{"same named volumes", func(o, n service) bool { return len(o.volumes) > 0 && slices.Equal(o.volumes, n.volumes) }},
}

// serviceChanges lists the target's services in file order (kept, renamed,
// added), then the services the target no longer has.
func serviceChanges(old, new []service, oldImages, newImages map[string]string) []ServiceChange {
	inOld := map[string]service{}
	for _, s := range old {
		inOld[s.name] = s
	}
	inNew := map[string]service{}
	for _, s := range new {
		inNew[s.name] = s
	}
	var removed, added []service
	for _, s := range old {
		if _, ok := inNew[s.name]; !ok {
			removed = append(removed, s)
		}
	}
	for _, s := range new {
		if _, ok := inOld[s.name]; !ok {
			added = append(added, s)
		}
	}
	renamedFrom, reasons := pairRenames(removed, added)
	renamedOld := map[string]bool{}
	for _, o := range renamedFrom {
		renamedOld[o] = true
	}

	var out []ServiceChange
	for _, s := range new {
		c := ServiceChange{Service: s.name, NewImage: newImages[s.name]}
		switch {
		case inOld[s.name].name != "":
			c.Previous, c.Change, c.OldImage = s.name, Unchanged, oldImages[s.name]
		case renamedFrom[s.name] != "":
			c.Previous, c.Change, c.Reason = renamedFrom[s.name], Renamed, reasons[s.name]
			c.OldImage = oldImages[c.Previous]
		default:
			c.Change = Added
		}
		out = append(out, c)
	}
	for _, s := range removed {
		if !renamedOld[s.name] {
			out = append(out, ServiceChange{Previous: s.name, Change: Removed, OldImage: oldImages[s.name]})
		}
	}
	return out
}

// pairRenames applies renameRules and returns, for each added service
// recognised as a rename, the removed service's name and the reason.
func pairRenames(removed, added []service) (from map[string]string, reasons map[string]string) {
	from, reasons = map[string]string{}, map[string]string{}
	taken := map[string]bool{}
	for _, rule := range renameRules {
		for _, o := range removed {
			if taken[o.name] {
				continue
			}
			var cands []service
			for _, n := range added {
				if from[n.name] == "" && rule.match(o, n) {
					cands = append(cands, n)
				}
			}
			if len(cands) != 1 {
				continue
			}
			n := cands[0]
			back := 0
			for _, o2 := range removed {
				if !taken[o2.name] && rule.match(o2, n) {
					back++
				}
			}
			if back != 1 {
				continue
			}
			from[n.name], taken[o.name] = o.name, true
			reasons[n.name] = rule.reason + ": " + describe(rule.reason, o, n)
		}
	}
	return from, reasons
}

// describe says what the rule saw, for the plan's reader.
func describe(reason string, o, n service) string {
	switch reason {
	case "network alias":
		if slices.Contains(n.aliases, o.name) {
			return n.name + " answers to " + o.name
		}
		return o.name + " answered to " + n.name
	case "same image variable":
		return n.image
	case "same published ports":
		return strings.Join(n.ports, ", ")
	}
	return strings.Join(n.volumes, ", ")
}
