import Foundation
import Testing

/// Every shell block of README.md and docs/*.md marked runnable is run, in order, as a new user would type
/// it, and must end with the exit status the doc gives, so the docs cannot drift from the product.
///
/// A marker is an HTML comment on the line right before the block's opening fence:
/// - `<!-- runnable -->`: the block must succeed (each command, under `set -e`);
/// - `<!-- runnable: exit N -->`: the block must end with status N (it shows a refusal);
/// - `<!-- runnable: daemon -->`: a line that starts hostessd (`swift run hostessd …` or `hostessd …`) runs
///   in the background, as in its own terminal, replacing the daemon of an earlier block; its other lines run
///   as usual.
///
/// A document's blocks run in one bash session, so variables and background jobs carry from block to block.
/// The session runs in private mount and network namespaces: `/dev/shm` and `/run` are fresh tmpfs mounts and
/// the loopback interface is its own, so the docs use hostessd's real defaults (its socket, its region name,
/// the ports they name) without touching anything outside. `swift run NAME` runs the built NAME and `swift
/// build` does nothing (the test suite built everything). If the first runnable block starts no daemon, one
/// is started with the defaults first.
@Suite("runnable blocks of the docs")
struct RunnableDocsTests {
    static let root = DocumentedReaderTests.root

    /// A marked block: where it is, what it must end with, and its text.
    struct Block: CustomStringConvertible {
        enum Kind: Equatable {
            case succeeds, exits(Int32), daemon
        }
        var line: Int
        var kind: Kind
        var text: String
        var description: String { "line \(line)" }
    }

    /// The marked shell blocks of `document` (a path under the repository).
    static func blocks(_ document: String) throws -> [Block] {
        let lines = try String(contentsOfFile: root + "/" + document, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        var blocks: [Block] = []
        var index = 0
        while index < lines.count {
            let marker = lines[index].trimmingCharacters(in: .whitespaces)
            guard marker.hasPrefix("<!-- runnable"), marker.hasSuffix("-->"), index + 1 < lines.count,
                lines[index + 1] == "```sh" || lines[index + 1] == "```bash"
            else {
                index += 1
                continue
            }
            let option = marker.dropFirst("<!-- runnable".count).dropLast("-->".count).trimmingCharacters(in: CharacterSet(charactersIn: ": "))
            let kind: Block.Kind
            switch option {
            case "": kind = .succeeds
            case "daemon": kind = .daemon
            case _ where option.hasPrefix("exit "):
                guard let status = Int32(option.dropFirst("exit ".count)) else { throw DocError("\(document):\(index + 1): bad marker '\(marker)'") }
                kind = .exits(status)
            default: throw DocError("\(document):\(index + 1): unknown marker '\(marker)'")
            }
            var body: [Substring] = []
            var end = index + 2
            while end < lines.count, lines[end] != "```" {
                body.append(lines[end])
                end += 1
            }
            guard end < lines.count else { throw DocError("\(document):\(index + 2): the block never ends") }
            blocks.append(Block(line: index + 2, kind: kind, text: body.joined(separator: "\n")))
            index = end + 1
        }
        return blocks
    }

    /// README.md and every docs/*.md that has a runnable block.
    static let documents: [String] = {
        let docs = ((try? FileManager.default.contentsOfDirectory(atPath: root + "/docs")) ?? []).filter { $0.hasSuffix(".md") }.sorted()
        return (["README.md"] + docs.map { "docs/" + $0 }).filter { !((try? blocks($0)) ?? [Block(line: 0, kind: .succeeds, text: "")]).isEmpty }
    }()

    struct DocError: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    @Test("the README walkthrough and the docs' examples are marked runnable")
    func marked() throws {
        for document in ["README.md", "docs/protocol.md", "docs/wiring.md", "docs/manifest.md"] {
            #expect(try !Self.blocks(document).isEmpty, "\(document) has runnable blocks")
        }
    }

    @Test("each runnable block ends as its document says", arguments: documents)
    func run(document: String) throws {
        let blocks = try Self.blocks(document)
        let scratch = try ScratchDirectory()
        let build = Binaries.directory
        // What a user has in a checkout: the sources, the docs and the build, in the directory they work in.
        for entry in ["docs", "Sources", "Scripts", ".build"] {
            try FileManager.default.createSymbolicLink(atPath: scratch.path + "/" + entry, withDestinationPath: Self.root + "/" + entry)
        }
        let bin = scratch.path + "/.bin"
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        let shim = try scratch.write(
            ".bin/swift",
            """
            #!/bin/sh
            # `swift run [-c release] NAME ARGS…` runs the built NAME; `swift build` has nothing left to do.
            case "$1" in
            run) shift; [ "$1" = "-c" ] && shift 2; name="$1"; shift; exec "\(build)/$name" "$@" ;;
            build) exit 0 ;;
            *) echo "swift $1 is not run by the docs test" >&2; exit 1 ;;
            esac
            """)
        chmod(shim, 0o755)
        var script = """
            set -uo pipefail
            mount -t tmpfs -o mode=1777 tmpfs /dev/shm || exit 90
            mount -t tmpfs -o mode=0755 tmpfs /run || exit 90
            ip link set lo up || exit 90
            cd '\(scratch.path)'
            daemon=""
            stop_daemon() { if [ -n "$daemon" ]; then kill "$daemon" 2>/dev/null; wait "$daemon" 2>/dev/null; daemon=""; fi; }
            start_daemon() {
                stop_daemon
                sh -c "exec $1" >>daemon.log 2>&1 </dev/null &
                daemon=$!
                disown "$daemon"
                for _ in $(seq 1 200); do
                    [ -S /run/hostess/hostess.sock ] && hostess status >/dev/null 2>&1 && return 0
                    kill -0 "$daemon" 2>/dev/null || { echo "the daemon of $2 exited:"; cat daemon.log; exit 91; }
                    sleep 0.05
                done
                echo "the daemon of $2 did not answer in 10 s:"; cat daemon.log; exit 91
            }
            finish() { status=$?; kill $(jobs -p) 2>/dev/null; stop_daemon; exit $status; }
            trap finish EXIT

            """
        if blocks.first?.kind != .daemon { script += "start_daemon 'hostessd' 'the test'\n" }
        for block in blocks {
            let file = try scratch.write(".block-\(block.line).sh", block.text + "\n")
            let label = "\(document):\(block.line)"
            script += "echo '>>> \(label)'\n"
            switch block.kind {
            case .succeeds:
                script += "set -e; source '\(file)'; set +e\n"
            case .exits(let expected):
                script += "( set -e; source '\(file)' ); status=$?\n"
                script += "[ \"$status\" = \(expected) ] || { echo '\(label) exited '\"$status\"', the doc says \(expected)'; exit 92; }\n"
            case .daemon:
                var rest: [Substring] = []
                for line in block.text.split(separator: "\n") {
                    let command = line.split(separator: "#", maxSplits: 1).first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
                    if command.hasPrefix("swift run hostessd") || command.hasPrefix("hostessd") {
                        let rewritten = try scratch.write(".block-\(block.line)-rest.sh", rest.joined(separator: "\n") + "\n")
                        script += "set -e; source '\(rewritten)'; set +e\n"
                        rest = []
                        script += "start_daemon '\(command.replacingOccurrences(of: "'", with: "'\\''"))' '\(label)'\n"
                    } else {
                        rest.append(line)
                    }
                }
                let tail = try scratch.write(".block-\(block.line)-tail.sh", rest.joined(separator: "\n") + "\n")
                script += "set -e; source '\(tail)'; set +e\n"
            }
        }
        script += "echo '>>> done'\n"
        let runner = try scratch.write(".run.sh", script)
        let outcome = try CLI.run(
            "/usr/bin/unshare", ["--mount", "--net", "--propagation", "private", "/bin/bash", runner],
            environment: [
                "PATH": "\(bin):\(build):/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": scratch.path, "TZ": "UTC",
                "USER": "root", "LANG": "C.UTF-8", "HOSTESS_SHM": "", "HOSTESS_SOCKET": "",
            ], timeout: 90)
        let log = (try? String(contentsOfFile: scratch.path + "/daemon.log", encoding: .utf8)) ?? ""
        #expect(outcome.status == 0 && outcome.stdout.contains(">>> done"), "\(document):\n\(outcome)\ndaemon log:\n\(log)")
    }
}
