module umc-invite

go 1.26.0

require (
	github.com/BurntSushi/toml v1.6.0
	github.com/fluent/fluent-bit-go v0.0.0-20230731091245-a7a013e2473c
)

require github.com/ugorji/go/codec v1.1.7 // indirect

require gopkg.in/yaml.v3 v3.0.1

require (
	github.com/prometheus/common v0.72.0
	github.com/tinylib/msgp v1.6.5
	golang.org/x/sys v0.50.0
	golang.org/x/time v0.16.0
)

require (
	github.com/munnerz/goautoneg v0.0.0-20191010083416-a7dc8b61c822 // indirect
	github.com/philhofer/fwd v1.2.0 // indirect
	github.com/prometheus/client_model v0.6.3 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)
