;; many_problems: eleven problems at once, in the manifest and in the module,
;; to check that validation reports every one of them (see README.md):
;;   manifest: abi, name, version, phases[1].name (duplicate),
;;             phases[1].maps_to (second START in step "load"),
;;             phases[2].maps_to ("LIBRARY_LOAD_START"), limits.timeout_ms
;;             (a string), colour (unknown field);
;;   module:   imports phasehost.sleep, imports env.abort, no "run" export.
(module
  (import "phasehost" "sleep" (func $sleep (param i32)))
  (import "env" "abort" (func $abort (param i32 i32 i32 i32)))
  (memory (export "memory") 1)
  (func $main (export "main") (result i32)
    (i32.const 0)))
