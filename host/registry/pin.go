package registry

import (
	"fmt"
	"sort"

	"github.com/Masterminds/semver/v3"

	"github.com/phasehost/phasehost/host/plugin"
)

// Pinning: an operator chooses which version a bare name ("material")
// resolves to, for a rollback or to hold back a newly loaded version. Entries
// naming a version or a range ("material@1.2.0", "material@^1") are not
// affected. A pin names a loaded version; it lasts until Unpin, or until that
// version is removed (Remove clears it: a bare name then resolves to the
// highest version again). A module replacing the pinned version (same name
// and version) keeps the pin.

// Pin makes a bare name resolve to name@version. The version must be loaded;
// otherwise the error wraps ErrNotFound and names the loaded versions.
func (r *Registry) Pin(name, version string) error {
	v, err := semver.StrictNewVersion(version)
	if err != nil {
		return fmt.Errorf("%w: %s has no version %q (loaded: %s)", ErrNotFound, name, version, r.versionsOf(name))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	list := r.byName[name]
	if len(list) == 0 {
		return fmt.Errorf("%w: no plugin named %q (loaded: %s)", ErrNotFound, name, r.namesLocked())
	}
	for _, e := range list {
		if e.v.Equal(v) {
			r.pinned[name] = e.v
			r.warmLocked(name)
			return nil
		}
	}
	return fmt.Errorf("%w: %s has no version %s (loaded: %s)", ErrNotFound, name, version, versions(list))
}

// Unpin makes a bare name resolve to its highest version again. It reports
// whether name was pinned.
func (r *Registry) Unpin(name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.pinned[name]
	delete(r.pinned, name)
	r.warmLocked(name)
	return ok
}

// Active returns the version a bare name resolves to and whether it is
// pinned; version is "" when no plugin of that name is loaded.
func (r *Registry) Active(name string) (version string, pinned bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	e, ok := r.activeLocked(name)
	if !ok {
		return "", false
	}
	_, pinned = r.pinned[name]
	return e.p.Version(), pinned
}

// activeLocked is the entry a bare name resolves to.
func (r *Registry) activeLocked(name string) (entry, bool) {
	list := r.byName[name]
	if len(list) == 0 {
		return entry{}, false
	}
	if v, ok := r.pinned[name]; ok {
		for _, e := range list {
			if e.v.Equal(v) {
				return e, true
			}
		}
	}
	return list[0], true
}

func (r *Registry) versionsOf(name string) string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if list := r.byName[name]; len(list) > 0 {
		return versions(list)
	}
	return "none"
}

// Entry is one loaded plugin with its standing.
type Entry struct {
	Plugin *plugin.Plugin
	// Active: a bare name resolves to this version.
	Active bool
	// Pinned: it is active because an operator pinned it.
	Pinned bool
}

// Entries is List with each plugin's standing, read in one snapshot.
func (r *Registry) Entries() []Entry {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []Entry
	for _, n := range r.sortedNamesLocked() {
		act, _ := r.activeLocked(n)
		pv, pinned := r.pinned[n]
		for _, e := range r.byName[n] {
			active := e.p == act.p
			out = append(out, Entry{Plugin: e.p, Active: active, Pinned: active && pinned && pv.Equal(e.v)})
		}
	}
	return out
}

func (r *Registry) sortedNamesLocked() []string {
	names := make([]string, 0, len(r.byName))
	for n := range r.byName {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
