// hostessd: the Hostess service registry daemon. A thin main over HostessDaemon.

import Glibc
import HostessDaemon
import HostessSystem

let environment = EnvironmentVariables.current
let arguments = Array(CommandLine.arguments.dropFirst())

let configuration: Configuration
do {
    configuration = try Configuration.parse(arguments: arguments, environment: environment)
} catch .help {
    print(Configuration.usage)
    exit(0)
} catch .version {
    print("hostessd \(hostessVersion)")
    exit(0)
} catch {
    FileHandleWriter.standardError("hostessd: \(error)\nTry 'hostessd --help'.\n")
    exit(2)
}

do {
    let daemon = try Daemon(configuration: configuration, environment: environment, version: hostessVersion)
    exit(daemon.run())
} catch {
    Log.error("cannot start: \(error)")
    exit(1)
}
