{
  "targets": [
    {
      "target_name": "broker_native",
      "sources": ["broker-native.c"],
      "cflags": ["-Wall", "-Wextra", "-O2"]
    }
  ],
  "conditions": [
    ["OS=='linux'", {
      "targets": [
        {
          "target_name": "broker-bridge",
          "type": "executable",
          "sources": ["broker-bridge.c"],
          "cflags": ["-Wall", "-Wextra", "-O2"]
        }
      ]
    }]
  ]
}
