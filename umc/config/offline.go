package config

// LoadOffline loads the configuration as Load does, the Config_File's keys
// and every default and rule included, for the operator's commands that
// read the queue and the dead letters, not UMC: the files that hold
// secrets (Auth_Password_File, TLS_CA_File) are named but not read, so a
// command needs neither them nor the right to read them. The result has no
// password and no CA bundle: it must not be used to call UMC.
func LoadOffline(g Getter) (*Config, error) { return loadKeys(g, true) }

// unreadOffline records the keys LoadOffline does not read: the path only.
var unreadOffline = map[string]func(c *Config, path string){
	"Auth_Password_File": func(c *Config, path string) { c.AuthPasswordFile = path },
	"TLS_CA_File":        func(c *Config, path string) { c.TLSCAFile = path },
}
