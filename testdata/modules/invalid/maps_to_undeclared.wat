;; maps_to_undeclared: phases[1].maps_to names a phase ("LIBRARY_LOAD_START"), not a unified phase (the seed bug).
;; The module itself is fine: it exports memory and run () -> i32.
(module
  (memory (export "memory") 1)
  (func $run (export "run") (result i32)
    (i32.const 0)))
