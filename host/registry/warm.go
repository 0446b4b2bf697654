package registry

// SetWarm sets how many pre-warmed instances (plugin.Plugin.SetWarm) the
// active version of each name keeps; other versions keep none. 0 disables.
// The registry moves the pool when the active version changes (a load, a
// removal, a pin or an unpin).
func (r *Registry) SetWarm(n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.warm = max(n, 0)
	for name := range r.byName {
		r.warmLocked(name)
	}
}

// warmLocked gives name's active version its pool and takes it from the others.
func (r *Registry) warmLocked(name string) {
	act, ok := r.activeLocked(name)
	if !ok {
		return
	}
	for _, e := range r.byName[name] {
		if e.p == act.p {
			e.p.SetWarm(r.warm)
		} else {
			e.p.SetWarm(0)
		}
	}
}
