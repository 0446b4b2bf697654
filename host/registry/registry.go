// Package registry holds the loaded plugins by name and version and resolves
// pipeline entries ("material", "material@1.2.0", "material@^1.2") to one of them.
//
// A Registry is safe for concurrent use.
package registry

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/Masterminds/semver/v3"

	"github.com/phasehost/phasehost/host/plugin"
)

// ErrNotFound is returned (wrapped) when no plugin matches an entry.
var ErrNotFound = errors.New("plugin not found")

// Registry maps plugin names to their versions.
type Registry struct {
	mu     sync.RWMutex
	byName map[string][]entry // sorted by version, highest first
	pinned map[string]*semver.Version
	warm   int // pre-warmed instances per active version (SetWarm)
}

type entry struct {
	v *semver.Version
	p *plugin.Plugin
}

// New returns an empty Registry.
func New() *Registry {
	return &Registry{byName: map[string][]entry{}, pinned: map[string]*semver.Version{}}
}

// Add registers p. A plugin with the same name and version is replaced and
// returned, so the caller can retire it (plugin.Plugin.Retire: closed once its
// runs and holds have drained).
func (r *Registry) Add(p *plugin.Plugin) (replaced *plugin.Plugin, err error) {
	v, err := semver.StrictNewVersion(p.Version())
	if err != nil {
		return nil, fmt.Errorf("plugin %s: version: %w", p.Ref(), err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	list := r.byName[p.Name()]
	for i, e := range list {
		if e.v.Equal(v) {
			replaced = e.p
			list[i].p = p
			replaced.SetWarm(0)
			r.warmLocked(p.Name())
			return replaced, nil
		}
	}
	list = append(list, entry{v: v, p: p})
	sort.Slice(list, func(i, j int) bool { return list[i].v.GreaterThan(list[j].v) })
	r.byName[p.Name()] = list
	r.warmLocked(p.Name())
	return nil, nil
}

// Remove unregisters name@version and returns it; the caller retires it.
// Once Remove has returned, Acquire no longer hands it out.
func (r *Registry) Remove(name, version string) (*plugin.Plugin, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.removeLocked(name, version)
}

func (r *Registry) removeLocked(name, version string) (*plugin.Plugin, bool) {
	list := r.byName[name]
	for i, e := range list {
		if e.p.Version() == version {
			r.byName[name] = append(list[:i:i], list[i+1:]...)
			if len(r.byName[name]) == 0 {
				delete(r.byName, name)
			}
			if v, ok := r.pinned[name]; ok && v.Equal(e.v) {
				delete(r.pinned, name) // back to the highest version
			}
			e.p.SetWarm(0)
			r.warmLocked(name)
			return e.p, true
		}
	}
	return nil, false
}

// Resolve returns the plugin for a pipeline entry: "name" (the pinned
// version, else the highest), "name@1.2.0" (exactly) or "name@<semver range>" (the highest match).
func (r *Registry) Resolve(spec string) (*plugin.Plugin, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.resolveLocked(spec)
}

// Acquire is Resolve that also takes a hold on the plugin (plugin.Plugin.Acquire),
// atomically with respect to Add and Remove: a plugin removed or replaced
// afterwards and retired stays open until the caller's Release. Whoever
// keeps a resolved plugin to run it later (a queued job) uses Acquire.
func (r *Registry) Acquire(spec string) (*plugin.Plugin, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	p, err := r.resolveLocked(spec)
	if err != nil {
		return nil, err
	}
	if !p.Acquire() {
		// Closed while still registered: its owner closed it instead of
		// removing and retiring it.
		return nil, fmt.Errorf("%w: %s is closed", ErrNotFound, p.Ref())
	}
	return p, nil
}

func (r *Registry) resolveLocked(spec string) (*plugin.Plugin, error) {
	name, want, hasVersion := strings.Cut(spec, "@")
	list := r.byName[name]
	if len(list) == 0 {
		return nil, fmt.Errorf("%w: no plugin named %q (loaded: %s)", ErrNotFound, name, r.namesLocked())
	}
	if !hasVersion {
		e, _ := r.activeLocked(name)
		return e.p, nil
	}
	if v, err := semver.StrictNewVersion(want); err == nil {
		for _, e := range list {
			if e.v.Equal(v) {
				return e.p, nil
			}
		}
		return nil, fmt.Errorf("%w: %s has no version %s (loaded: %s)", ErrNotFound, name, want, versions(list))
	}
	c, err := semver.NewConstraint(want)
	if err != nil {
		return nil, fmt.Errorf("pipeline entry %q: %q is neither a version nor a version range: %w", spec, want, err)
	}
	for _, e := range list {
		if c.Check(e.v) {
			return e.p, nil
		}
	}
	return nil, fmt.Errorf("%w: no version of %s matches %q (loaded: %s)", ErrNotFound, name, want, versions(list))
}

// List returns every plugin, by name then version (highest first).
func (r *Registry) List() []*plugin.Plugin {
	r.mu.RLock()
	defer r.mu.RUnlock()
	names := make([]string, 0, len(r.byName))
	for n := range r.byName {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []*plugin.Plugin
	for _, n := range names {
		for _, e := range r.byName[n] {
			out = append(out, e.p)
		}
	}
	return out
}

func (r *Registry) namesLocked() string {
	if len(r.byName) == 0 {
		return "none"
	}
	names := make([]string, 0, len(r.byName))
	for n := range r.byName {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

func versions(list []entry) string {
	vs := make([]string, len(list))
	for i, e := range list {
		vs[i] = e.p.Version()
	}
	return strings.Join(vs, ", ")
}

// RemovePlugin unregisters p if it is the plugin registered under its name
// and version (not one that replaced it since); the caller retires it.
func (r *Registry) RemovePlugin(p *plugin.Plugin) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.byName[p.Name()] {
		if e.p == p {
			r.removeLocked(p.Name(), p.Version())
			return true
		}
	}
	return false
}
