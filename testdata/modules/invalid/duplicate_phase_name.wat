;; duplicate_phase_name: phases[2].name repeats phases[0].name.
;; The module itself is fine: it exports memory and run () -> i32.
(module
  (memory (export "memory") 1)
  (func $run (export "run") (result i32)
    (i32.const 0)))
