;; import_unknown_function: imports phasehost.sleep, which ABI v1 does not have.
(module
  (import "phasehost" "sleep" (func $sleep (param i32)))
  (memory (export "memory") 1)
  (func $run (export "run") (result i32)
    (call $sleep (i32.const 1000))
    (i32.const 0)))
