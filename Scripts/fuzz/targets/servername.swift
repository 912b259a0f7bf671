// Fuzz target `servername`: ServerName(parsing:) over arbitrary bytes (up to Limits.nameBytes, 512).
// Oracle: a name that parses has a description that parses back to an equal name with the same fields,
// the description is a fixed point, and building it from its fields gives the same name.
import HostessModel

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    _ = ServerName.isValidFQDN(text)
    _ = try? ClassCode(parsing: text)
    guard let name = try? ServerName(parsing: text) else { return 0 }
    let again: ServerName
    do { again = try ServerName(parsing: name.description) } catch {
        fatalError("servername: the description of \(text.debugDescription) does not parse: \(error)")
    }
    guard again == name, again.description == name.description, again.fqdn == name.fqdn,
        again.servername == name.servername, again.classCode == name.classCode, again.owner == name.owner,
        again.authentication == name.authentication, again.authMechanism == name.authMechanism,
        again.uuid == name.uuid, again.extensions == name.extensions
    else { fatalError("servername: round trip changed \(text.debugDescription) -> \(again.description.debugDescription)") }
    let built: ServerName
    do {
        built = try ServerName(
            fqdn: name.fqdn, servername: name.servername, classCode: name.classCode, owner: name.owner,
            authentication: name.authentication, authMechanism: name.authMechanism, uuid: name.uuid,
            extensions: name.extensions)
    } catch { fatalError("servername: the fields of \(name.description.debugDescription) are refused: \(error)") }
    guard built.description == name.description else {
        fatalError("servername: built from fields \(built.description.debugDescription) != \(name.description.debugDescription)")
    }
    if text.utf8.elementsEqual(name.description.utf8) == false {
        // Parsing normalizes only the case of the hexcode and the UUID.
        guard text.lowercased() == name.description.lowercased() else {
            fatalError("servername: \(text.debugDescription) normalized to \(name.description.debugDescription)")
        }
    }
    return 0
}
