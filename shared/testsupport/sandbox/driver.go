package sandbox

// Driver is the driver a PlatformReference names to manage objects at the
// sandbox's management API: the generic REST driver, which the operator
// ships for any platform's API. No driver of the sandbox's own ships in
// the operator; the sandbox is described by DriverParameters, as a user
// describes a real platform.
const Driver = "generic-rest"

// DriverParameters are the parameters of a PlatformReference that manages
// objects at the sandbox with Driver. The sandbox's notification channels,
// certificates and ingestion channels have the shapes the generic REST
// driver assumes by default (JSON under /management/v1, ids at id, lists
// at items, certificates found by thumbprint and registered with
// {"pem": ...}); what differs is that its list of notification channels
// comes in pages, each linking to the next at "next".
//
// In YAML:
//
//	driver: generic-rest
//	parameters:
//	  channels.nextPath: next
//
// Each call returns a new map, so a test may add to it.
func DriverParameters() map[string]string {
	return map[string]string{"channels.nextPath": "next"}
}
