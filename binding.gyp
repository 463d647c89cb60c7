{
  "targets": [
    {
      "target_name": "wasmvs_tap",
      "sources": ["host/io/native/tap.c", "host/io/native/rings.c"],
      "defines": ["<!@(node host/io/native/abi-defines.cjs)"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"]
    }
  ]
}
