import HostessModel
import HostessSystem

// MARK: - Measurement

/// The samples of one benchmark row, in nanoseconds per operation, and what they summarize to.
struct Measurement {
    /// What was measured: `lookup-by-id`, `query`, …
    var benchmark: String
    /// How: `in-process`, `socket`, …
    var variant: String
    /// Entries in the guest book.
    var entries: Int
    /// Nanoseconds per operation, one sample per timed batch, sorted.
    var samples: [Double]
    /// Operations per second over the whole timed run.
    var opsPerSecond: Double
    /// A note (why a row was skipped, what a batch is).
    var note = ""
    /// For rows that measure a quantity rather than a latency (cost): the value and its unit.
    var value: (amount: Double, unit: String)?

    /// A row that could not run, with why.
    static func skipped(_ benchmark: String, _ variant: String, entries: Int, reason: String) -> Measurement {
        Measurement(benchmark: benchmark, variant: variant, entries: entries, samples: [], opsPerSecond: 0, note: "skipped: \(reason)")
    }

    /// A row that reports one quantity.
    static func value(_ benchmark: String, _ variant: String, entries: Int, value: Double, unit: String, note: String) -> Measurement {
        Measurement(benchmark: benchmark, variant: variant, entries: entries, samples: [], opsPerSecond: 0, note: note, value: (value, unit))
    }

    func percentile(_ fraction: Double) -> Double {
        guard !samples.isEmpty else { return .nan }
        let index = min(samples.count - 1, Int((Double(samples.count) * fraction).rounded(.up)) - 1)
        return samples[max(0, index)]
    }

    var json: JSONValue {
        func number(_ value: Double) -> JSONValue { value.isNaN ? .null : .double((value * 10).rounded() / 10) }
        var object: JSONObject = [
            "benchmark": .string(benchmark), "variant": .string(variant), "entries": .int(Int64(entries)),
            "p50_ns": number(percentile(0.5)), "p99_ns": number(percentile(0.99)),
            "p999_ns": number(percentile(0.999)), "max_ns": number(samples.last ?? .nan),
            "ops_per_s": opsPerSecond > 0 ? .double(opsPerSecond.rounded()) : .null,
        ]
        if let value { object["value"] = .double(value.amount.rounded()); object["unit"] = .string(value.unit) }
        if !note.isEmpty { object["note"] = .string(note) }
        return .object(object)
    }
}

// MARK: - Timing

/// Times `operation` after a warm-up. Each sample is one batch of `batch` calls divided by `batch`, so that
/// operations shorter than the clock's resolution (about 20 ns to read CLOCK_MONOTONIC) are still measured.
/// - Parameters:
///   - samples: how many batches to time.
///   - batch: calls per batch.
///   - warmup: untimed batches first; batched rows (the in-memory paths) warm up for at least one pass over
///     `entries` calls, so that every entry has been touched once before the first sample.
///   - budget: seconds after which sampling stops early (slow rows at large sizes), warm-up included.
///   - operation: called with the index of the call.
func measure(
    _ benchmark: String, _ variant: String, entries: Int, samples: Int, batch: Int, warmup: Int = 100,
    seconds budget: Double = 3, _ operation: (Int) -> Void
) -> Measurement {
    var call = 0
    let deadline = SystemClock.monotonicNanoseconds() + UInt64(budget * 1e9)
    let warmupBatches = batch > 1 ? max(warmup, entries / batch + 1) : warmup
    for _ in 0..<warmupBatches {
        for _ in 0..<batch {
            operation(call)
            call &+= 1
        }
        if SystemClock.monotonicNanoseconds() > deadline { break }
    }
    var timings: [Double] = []
    timings.reserveCapacity(samples)
    let started = SystemClock.monotonicNanoseconds()
    let sampleDeadline = max(deadline, started + UInt64(budget * 0.5e9))
    for sample in 0..<samples {
        let before = SystemClock.monotonicNanoseconds()
        for _ in 0..<batch {
            operation(call)
            call &+= 1
        }
        let after = SystemClock.monotonicNanoseconds()
        timings.append(Double(after - before) / Double(batch))
        if sample >= 100 && after > sampleDeadline { break }
    }
    let elapsed = Double(SystemClock.monotonicNanoseconds() - started)
    timings.sort()
    return Measurement(
        benchmark: benchmark, variant: variant, entries: entries, samples: timings,
        opsPerSecond: Double(timings.count * batch) / (elapsed / 1e9), note: batch > 1 ? "batches of \(batch)" : "")
}

// MARK: - Report

/// Prints rows as a Markdown table, with each row's p50 as a ratio to the in-process floor of its benchmark
/// and size.
func markdown(_ rows: [Measurement]) -> String {
    func format(_ nanoseconds: Double) -> String {
        if nanoseconds.isNaN { return "-" }
        if nanoseconds >= 1_000_000 { return String(format3(nanoseconds / 1_000_000)) + " ms" }
        if nanoseconds >= 1_000 { return String(format3(nanoseconds / 1_000)) + " µs" }
        return String(format3(nanoseconds)) + " ns"
    }
    var lines = [
        "| benchmark | variant | entries | p50 | p99 | p99.9 | max | ops/s | × floor | note |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for row in rows {
        let ratio = ratioToFloor(row, in: rows).map { format3($0) + "×" } ?? "-"
        if let value = row.value {
            lines.append("| \(row.benchmark) | \(row.variant) | \(row.entries) | \(Int(value.amount)) \(value.unit) | | | | | | \(row.note) |")
            continue
        }
        lines.append(
            "| \(row.benchmark) | \(row.variant) | \(row.entries) | \(format(row.percentile(0.5))) | \(format(row.percentile(0.99))) | "
                + "\(format(row.percentile(0.999))) | \(format(row.samples.last ?? .nan)) | \(row.opsPerSecond > 0 ? String(Int(row.opsPerSecond)) : "-") | \(ratio) | \(row.note) |")
    }
    return lines.joined(separator: "\n")
}

/// p50 of `row` over p50 of the in-process row of the same benchmark and size, measured in the same run.
func ratioToFloor(_ row: Measurement, in rows: [Measurement]) -> Double? {
    guard row.value == nil, !row.samples.isEmpty,
        let floor = rows.first(where: { $0.benchmark == row.benchmark && $0.entries == row.entries && $0.variant == "in-process" }),
        floor.percentile(0.5) > 0
    else { return nil }
    return row.percentile(0.5) / floor.percentile(0.5)
}

/// Three significant digits, without Foundation.
func format3(_ value: Double) -> String {
    if value >= 100 { return String(Int(value.rounded())) }
    if value >= 10 { return String((value * 10).rounded() / 10) }
    return String((value * 100).rounded() / 100)
}
