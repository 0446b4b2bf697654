;; bad_step: phases[0].step "LoadMesh" is not lower_snake.
;; The module itself is fine: it exports memory and run () -> i32.
(module
  (memory (export "memory") 1)
  (func $run (export "run") (result i32)
    (i32.const 0)))
