// MARK: - Limits

/// Every size Hostess accepts has a limit, so that no client can make an entry unbounded and so that
/// entries fit the fixed-size records of the shared-memory region. docs/protocol.md lists them.
public enum Limits {
    /// Bytes in a whole server name (id).
    public static let nameBytes = 512
    /// Bytes of a name (id) the shared-memory region keeps inside the entry's record. A longer id takes its
    /// bytes from the payload area too, so the guest book counts them with the entry's wire form.
    public static let inlineNameBytes = 128
    /// Bytes in an fqdn (a hostname is at most 253; a bracketed IPv6 literal with a zone fits too).
    public static let fqdnBytes = 253
    /// Bytes in a servername, an owner, an auth mechanism, a terminal name, a capability, a protocol.
    public static let tokenBytes = 64
    /// Extension fields after the UUID.
    public static let extensions = 8
    /// Terminals per entry.
    public static let terminals = 16
    /// Connections (connectome ids) on one fanout or fanin terminal.
    public static let connectionsPerTerminal = 16
    /// Bytes in a connectome id.
    public static let connectomeIDBytes = 64
    /// Capabilities per entry.
    public static let capabilities = 32
    /// Bytes of an entry's metadata, as compact JSON.
    public static let metadataBytes = 2048
    /// Bytes of one terminal's metadata, as compact JSON.
    public static let terminalMetadataBytes = 512
    /// Links in one recorded connectome.
    public static let connectomeLinks = 1024
    /// Sources, and targets, of one link of a recorded connectome.
    public static let linkEndpoints = 64
    /// Endpoints (sources and targets of every link) of one recorded connectome.
    public static let connectomeEndpoints = 4096
    /// Endpoints of all the connectomes one uid (or HTTP key) has recorded; root is not limited. With
    /// ``connectomesPerCreator`` this bounds the memory one user's records take (a few MiB).
    public static let connectomeEndpointsPerCreator = 16384
    /// Bytes in a recorded connectome's `source`.
    public static let connectomeSourceBytes = 256
    /// Connectomes the daemon keeps recorded at once.
    public static let connectomes = 1024
    /// Connectomes one uid (or HTTP key) may have recorded at once; root is not limited.
    public static let connectomesPerCreator = 256
    /// Bytes of one entry's wire form (its compact JSON, the region's payload) at most. The other limits
    /// imply less (a test builds the largest entry they allow); readers size one buffer by it.
    public static let entryWireBytes = 65536
    /// Bytes in one protocol line (request or response), newline excluded.
    public static let lineBytes = 1 << 20
}
