package example

import "fmt"

// BracketDocument returns the example L-bracket assembly (lengths in mm):
//
//   - base: a 120×80×10 aluminium plate, grounded;
//   - upright: the same plate in steel, modelled lying flat and stood up on
//     the base's back edge by a 90° LCS rotation about x;
//   - gusset: a triangular steel web in the corner between base and upright,
//     its LCS turned 120° about (1, -1, -1);
//   - pin: a stainless cylinder through the upright, attached by an LCS
//     flipped 180° about x;
//   - washer: a brass ring (genus 1) on the pin behind the upright.
//
// Four constraints form a tree: base → upright → pin → washer, base → gusset.
// One override changes the upright's density and Young's modulus.
func BracketDocument() (*Document, error) {
	base, err := Box([3]float64{120, 80, 10}, 4)
	if err != nil {
		return nil, fmt.Errorf("base: %w", err)
	}
	upright, err := Box([3]float64{120, 80, 10}, 4)
	if err != nil {
		return nil, fmt.Errorf("upright: %w", err)
	}
	gusset, err := Prism([][2]float64{{0, 0}, {40, 0}, {0, 40}}, 8)
	if err != nil {
		return nil, fmt.Errorf("gusset: %w", err)
	}
	pin, err := Cylinder(4, 30, 32, 3)
	if err != nil {
		return nil, fmt.Errorf("pin: %w", err)
	}
	washer, err := Ring(4.2, 8, 2, 32)
	if err != nil {
		return nil, fmt.Errorf("washer: %w", err)
	}
	origin := LCS{Rotation: Rotation{Axis: [3]float64{0, 0, 1}}}
	d := &Document{
		Assembly: "bracket",
		Units:    "mm",
		Parts: []Part{
			{
				Name: "base", Material: "aluminium-6061-t6", Mesh: base, Grounded: true,
				LCS: map[string]LCS{
					"LCS_Origin": origin,
					// Back edge of the top face, x axis along the edge, turned
					// so that its y axis points up: the upright stands on it.
					"LCS_BackEdge": {Origin: [3]float64{0, 80, 10}, Rotation: Rotation{Axis: [3]float64{1, 0, 0}, AngleDeg: 90}},
					// Seat of the gusset on the top face, against the upright:
					// x axis towards the front, y axis up, z axis towards -x.
					"LCS_GussetSeat": {Origin: [3]float64{64, 70, 10}, Rotation: Rotation{Axis: [3]float64{1, -1, -1}, AngleDeg: 120}},
				},
			},
			{
				Name: "upright", Material: "steel-s235", Mesh: upright,
				LCS: map[string]LCS{
					"LCS_Origin": origin,
					// Centre of the pin hole on the face towards the front.
					"LCS_PinHole": {Origin: [3]float64{60, 55, 10}, Rotation: Rotation{Axis: [3]float64{0, 0, 1}}},
				},
			},
			{
				Name: "gusset", Material: "steel-s235", Mesh: gusset,
				LCS: map[string]LCS{"LCS_Origin": origin},
			},
			{
				Name: "pin", Material: "stainless-304", Mesh: pin,
				LCS: map[string]LCS{
					"LCS_Origin": origin,
					// 10 mm up the pin, flipped so that the pin runs through
					// the upright from front to back.
					"LCS_Shoulder": {Origin: [3]float64{0, 0, 10}, Rotation: Rotation{Axis: [3]float64{1, 0, 0}, AngleDeg: 180}},
					// Where the washer sits, at the upright's back face.
					"LCS_WasherSeat": {Origin: [3]float64{0, 0, 20}, Rotation: Rotation{Axis: [3]float64{0, 0, 1}, AngleDeg: 30}},
				},
			},
			{
				Name: "washer", Material: "brass-c360", Mesh: washer,
				LCS: map[string]LCS{"LCS_Origin": origin},
			},
		},
		Constraints: []Constraint{
			{Name: "upright_on_base", Part: "upright", LCS: "LCS_Origin", Parent: "base", ParentLCS: "LCS_BackEdge"},
			{Name: "gusset_on_base", Part: "gusset", LCS: "LCS_Origin", Parent: "base", ParentLCS: "LCS_GussetSeat"},
			{Name: "pin_in_upright", Part: "pin", LCS: "LCS_Shoulder", Parent: "upright", ParentLCS: "LCS_PinHole"},
			{Name: "washer_on_pin", Part: "washer", LCS: "LCS_Origin", Parent: "pin", ParentLCS: "LCS_WasherSeat"},
		},
		Overrides: []Override{{Part: "upright", DensityKgM3: 7870, YoungsModulusPa: 2.05e11}},
	}
	return d, nil
}

// Bracket returns the example bracket (BracketDocument) as indented JSON:
// exactly the bytes of examples/bracket.json.
func Bracket() ([]byte, error) {
	d, err := BracketDocument()
	if err != nil {
		return nil, fmt.Errorf("bracket: %w", err)
	}
	return Marshal(d, true)
}
