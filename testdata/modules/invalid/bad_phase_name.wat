;; bad_phase_name: phases[0].name "work_start" does not match ^[A-Z][A-Z0-9_]*$.
;; The module itself is fine: it exports memory and run () -> i32.
(module
  (memory (export "memory") 1)
  (func $run (export "run") (result i32)
    (i32.const 0)))
