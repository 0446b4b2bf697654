;; init_trap: _initialize traps (unreachable). run would write {"ran":true}
;; and return 0, so a host that ignored the trap and called run anyway would
;; report success.
;; Expected: the run fails with a trap in _initialize; run is never called; no
;; output.
(module
  (import "phasehost" "output_write" (func $output_write (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "{\"ran\":true}")  ;; 16, 12
  (func $_initialize (export "_initialize")
    (unreachable))
  (func $run (export "run") (result i32)
    (drop (call $output_write (i32.const 16) (i32.const 12)))
    (i32.const 0)))
