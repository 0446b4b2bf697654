;; two_manifest_sections: carries two phasehost.manifest custom sections, each
;; valid on its own (names two-manifest-sections-a and -b); which one is meant
;; is ambiguous, so the module is refused. build.sh appends
;; two_manifest_sections.manifest.json, then two_manifest_sections.second.json.
(module
  (memory (export "memory") 1)
  (func $run (export "run") (result i32)
    (i32.const 0)))
