package stage

import (
	"fmt"
	"slices"
	"strings"
)

// Material is an isotropic engineering material with its typical room
// temperature properties in SI units.
type Material struct {
	// Name is the library key, lower case, e.g. "aluminium-6061-t6".
	Name string
	// DisplayName is a human readable designation, e.g. "Aluminium 6061-T6".
	DisplayName string
	// DensityKgM3 is the mass density in kg/m³.
	DensityKgM3 float64
	// YoungsModulusPa is the elastic (Young's) modulus in Pa.
	YoungsModulusPa float64
	// PoissonRatio is the dimensionless Poisson's ratio.
	PoissonRatio float64
	// YieldStrengthPa is the tensile yield (or 0.1–0.2 % proof) strength in Pa.
	YieldStrengthPa float64
}

// library holds typical handbook values (MatWeb / ASM / EN datasheets) for
// each material in its usual delivery condition.
var library = []Material{
	{"steel-s235", "Structural steel S235JR (EN 10025-2)", 7850, 210e9, 0.30, 235e6},
	{"stainless-304", "Stainless steel AISI 304 (annealed)", 8000, 193e9, 0.29, 215e6},
	{"aluminium-6061-t6", "Aluminium 6061-T6", 2700, 68.9e9, 0.33, 276e6},
	{"aluminium-7075-t6", "Aluminium 7075-T6", 2810, 71.7e9, 0.33, 503e6},
	{"titanium-ti6al4v", "Titanium Ti-6Al-4V (grade 5, annealed)", 4430, 113.8e9, 0.342, 880e6},
	{"brass-c360", "Free-cutting brass C36000 (half hard)", 8500, 97e9, 0.31, 310e6},
	{"copper-c110", "Copper C11000 ETP (annealed)", 8890, 115e9, 0.31, 69e6},
	{"cast-iron-gg25", "Grey cast iron EN-GJL-250 (GG25)", 7200, 110e9, 0.26, 165e6},
	{"abs", "ABS (acrylonitrile butadiene styrene)", 1050, 2.3e9, 0.35, 40e6},
	{"pla", "PLA (polylactic acid)", 1240, 3.5e9, 0.36, 60e6},
	{"nylon-pa6", "Nylon PA6 (dry as moulded)", 1140, 2.8e9, 0.39, 80e6},
	{"polycarbonate", "Polycarbonate (PC)", 1200, 2.4e9, 0.37, 62e6},
}

// Library returns a copy of the built-in material library in a stable order.
func Library() []Material { return slices.Clone(library) }

// Lookup finds a material by name, ignoring case and surrounding spaces. An
// unknown name is an error that suggests the closest library names.
func Lookup(name string) (Material, error) {
	key := strings.ToLower(strings.TrimSpace(name))
	for _, m := range library {
		if m.Name == key {
			return m, nil
		}
	}
	if key == "" {
		return Material{}, fmt.Errorf("%w: empty name (known materials: %s)", ErrUnknownMaterial, strings.Join(names(), ", "))
	}
	if close := suggest(key); len(close) > 0 {
		return Material{}, fmt.Errorf("%w %q; did you mean %s?", ErrUnknownMaterial, name, quoteJoin(close))
	}
	return Material{}, fmt.Errorf("%w %q (known materials: %s)", ErrUnknownMaterial, name, strings.Join(names(), ", "))
}

func names() []string {
	out := make([]string, len(library))
	for i, m := range library {
		out[i] = m.Name
	}
	return out
}

func quoteJoin(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	switch len(q) {
	case 1:
		return q[0]
	case 2:
		return q[0] + " or " + q[1]
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}

// suggest returns up to three library names close to key: within an edit
// distance of about a third of the name, or containing key (or contained in
// it) when key is at least three characters long. Closest first.
func suggest(key string) []string {
	type cand struct {
		name string
		dist int
	}
	var cs []cand
	for _, m := range library {
		d := levenshtein(key, m.Name)
		limit := max(2, max(len(key), len(m.Name))/3)
		if d <= limit || (len(key) >= 3 && (strings.Contains(m.Name, key) || strings.Contains(key, m.Name))) {
			cs = append(cs, cand{m.Name, d})
		}
	}
	slices.SortStableFunc(cs, func(a, b cand) int { return a.dist - b.dist })
	out := make([]string, 0, 3)
	for _, c := range cs {
		if len(out) == 3 {
			break
		}
		out = append(out, c.name)
	}
	return out
}

// levenshtein is the edit distance (insertions, deletions, substitutions)
// between a and b, over bytes.
func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
