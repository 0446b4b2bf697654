;; Has a wasm start function that loops forever. A start function runs during
;; instantiation, before the host can limit the instance, so plugins may not
;; have one (they export _initialize instead). Expected: refused at load,
;; "start: ...".
(module
  (memory (export "memory") 1)
  (func $spin (loop $l (br $l)))
  (start $spin)
  (func (export "run") (result i32) (i32.const 0)))
