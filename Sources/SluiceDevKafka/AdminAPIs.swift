import NIOCore

extension KafkaErrorCode {
    static let clusterAuthorizationFailed = KafkaErrorCode(rawValue: 31)
    static let illegalSaslState = KafkaErrorCode(rawValue: 34)
    static let invalidConfig = KafkaErrorCode(rawValue: 40)
    static let transactionalIdAuthorizationFailed = KafkaErrorCode(rawValue: 53)
    static let securityDisabled = KafkaErrorCode(rawValue: 54)
    static let delegationTokenAuthDisabled = KafkaErrorCode(rawValue: 61)
    static let nonEmptyGroup = KafkaErrorCode(rawValue: 68)
    static let groupIdNotFound = KafkaErrorCode(rawValue: 69)
    static let memberIdRequired = KafkaErrorCode(rawValue: 79)
}

/// The advertised APIs beyond producing and consuming: topic administration is served; security,
/// transactions and inter-broker APIs get the well-formed error answer a single plaintext broker
/// without an authorizer or transaction support gives.
extension BrokerCore {
    static let topicConfigNames = ["cleanup.policy", "compression.type", "max.message.bytes", "message.timestamp.type",
                                   "retention.bytes", "retention.ms", "segment.bytes"]

    func topicConfigs(_ topic: TopicState) -> [(String, String)] {
        [("cleanup.policy", "delete"), ("compression.type", "producer"), ("max.message.bytes", "1000012"),
         ("message.timestamp.type", topic.logAppendTime ? "LogAppendTime" : "CreateTime"),
         ("retention.bytes", "-1"), ("retention.ms", "604800000"), ("segment.bytes", "1073741824")]
    }

    func handleExtra(_ key: Int16, _ v: Int16, _ body: inout ByteBuffer, _ forced: KafkaErrorCode?) throws -> Outcome? {
        var out = ByteBuffer()
        switch key {
        case 4, 5:  // LeaderAndIsr, StopReplica: error_code, partitions[]
            out.wError(.clusterAuthorizationFailed); out.wInt32(0)
        case 6:  // UpdateMetadata
            out.wError(.clusterAuthorizationFailed)
        case 7:  // ControlledShutdown: error_code, remaining_partitions[]
            out.wError(.clusterAuthorizationFailed); out.wInt32(0)
        case 17:  // SaslHandshake on a plaintext listener
            _ = try body.rString()
            out.wError(.illegalSaslState); out.wInt32(0)
        case 36:  // SaslAuthenticate
            out.wError(.illegalSaslState); out.wNullableString("sluice dev-kafka has no SASL listener")
            out.wNullableBytes(ByteBuffer())
            if v >= 1 { out.wInt64(0) }
        case 24:  // AddPartitionsToTxn
            _ = try body.rString(); _ = try body.rInt64(); _ = try body.rInt16()
            let topics = try body.rArray { b in (try b.rString(), try b.rArray { try $0.rInt32() }) }
            out.wInt32(0)
            out.wArray(topics) { b, t in
                b.wString(t.0)
                b.wArray(t.1) { b, p in b.wInt32(p); b.wError(.transactionalIdAuthorizationFailed) }
            }
        case 25, 26:  // AddOffsetsToTxn, EndTxn
            out.wInt32(0); out.wError(.transactionalIdAuthorizationFailed)
        case 27:  // WriteTxnMarkers
            let markers = try body.rArray { b -> (Int64, [(String, [Int32])]) in
                let producerId = try b.rInt64()
                _ = try b.rInt16(); _ = try b.rBool()
                let topics = try b.rArray { b in (try b.rString(), try b.rArray { try $0.rInt32() }) }
                _ = try b.rInt32()
                return (producerId, topics)
            }
            out.wArray(markers) { b, m in
                b.wInt64(m.0)
                b.wArray(m.1) { b, t in
                    b.wString(t.0)
                    b.wArray(t.1) { b, p in b.wInt32(p); b.wError(.clusterAuthorizationFailed) }
                }
            }
        case 28:  // TxnOffsetCommit
            _ = try body.rString(); _ = try body.rString(); _ = try body.rInt64(); _ = try body.rInt16()
            let topics = try body.rArray { b in
                (try b.rString(), try b.rArray { b -> Int32 in
                    let p = try b.rInt32()
                    _ = try b.rInt64()
                    if v >= 2 { _ = try b.rInt32() }
                    _ = try b.rNullableString()
                    return p
                })
            }
            out.wInt32(0)
            out.wArray(topics) { b, t in
                b.wString(t.0)
                b.wArray(t.1) { b, p in b.wInt32(p); b.wError(.transactionalIdAuthorizationFailed) }
            }
        case 29:  // DescribeAcls
            out.wInt32(0); out.wError(.securityDisabled); out.wNullableString("No Authorizer is configured on the broker")
            out.wInt32(0)
        case 30:  // CreateAcls: one result per creation
            let n = try body.rArray { b in
                _ = try b.rInt8(); _ = try b.rString()
                if v >= 1 { _ = try b.rInt8() }
                _ = try b.rString(); _ = try b.rString(); _ = try b.rInt8(); _ = try b.rInt8()
            }.count
            out.wInt32(0)
            out.wArray(Array(repeating: 0, count: n)) { b, _ in
                b.wError(.securityDisabled); b.wNullableString("No Authorizer is configured on the broker")
            }
        case 31:  // DeleteAcls: one result per filter
            let n = try body.rArray { b in
                _ = try b.rInt8(); _ = try b.rNullableString()
                if v >= 1 { _ = try b.rInt8() }
                _ = try b.rNullableString(); _ = try b.rNullableString(); _ = try b.rInt8(); _ = try b.rInt8()
            }.count
            out.wInt32(0)
            out.wArray(Array(repeating: 0, count: n)) { b, _ in
                b.wError(.securityDisabled); b.wNullableString("No Authorizer is configured on the broker"); b.wInt32(0)
            }
        case 38, 39, 40, 41:  // delegation tokens
            out.wError(.delegationTokenAuthDisabled)
            switch key {
            case 38: out.wString(""); out.wString(""); out.wInt64(-1); out.wInt64(-1); out.wInt64(-1); out.wString("")
                out.wNullableBytes(ByteBuffer()); out.wInt32(0)
            case 41: out.wInt32(0); out.wInt32(0)
            default: out.wInt64(-1); out.wInt32(0)
            }
        case 32: return try describeConfigs(v, &body, forced)
        case 33: return try alterConfigs(v, &body, forced)
        case 34:  // AlterReplicaLogDirs: one log directory, nothing to move
            let dirs = try body.rArray { b in
                (try b.rString(), try b.rArray { b in (try b.rString(), try b.rArray { try $0.rInt32() }) })
            }
            out.wInt32(0)
            out.wArray(dirs.flatMap(\.1)) { b, t in
                b.wString(t.0)
                b.wArray(t.1) { b, p in b.wInt32(p); b.wError(KafkaErrorCode(rawValue: 57)) }  // LOG_DIR_NOT_FOUND
            }
        case 35: return try describeLogDirs(v, &body, forced)
        case 37: return try createPartitions(v, &body, forced)
        case 42: return try deleteGroups(v, &body, forced)
        case 43:  // ElectPreferredLeaders: this broker leads everything already
            let request = try body.rNullableArray { b in (try b.rString(), try b.rArray { try $0.rInt32() }) }
            out.wInt32(0)
            let all: [(String, [Int32])] = request ?? lock.withLock {
                topics.values.map { ($0.name, (0..<Int32($0.partitions.count)).map { $0 }) }
            }
            out.wArray(all) { b, t in
                b.wString(t.0)
                b.wArray(t.1) { b, p in b.wInt32(p); b.wError(forced ?? .none); b.wNullableString(nil) }
            }
        default:
            return nil
        }
        return .respond(out)
    }

    func describeConfigs(_ v: Int16, _ body: inout ByteBuffer, _ forced: KafkaErrorCode?) throws -> Outcome {
        let resources = try body.rArray { b in (try b.rInt8(), try b.rString(), try b.rNullableArray { try $0.rString() }) }
        var out = ByteBuffer()
        out.wInt32(0)
        lock.withLockVoid {
            out.wArray(resources) { b, r in
                var configs: [(String, String)] = []
                var code = forced ?? .none
                var message: String? = nil
                if code == .none {
                    if r.0 == 2 {
                        if let t = topics[r.1] { configs = topicConfigs(t) }
                        else { code = .unknownTopicOrPartition; message = "Topic \(r.1) does not exist" }
                    } else if r.0 == 4 {
                        configs = [("auto.create.topics.enable", config.autoCreateTopics ? "true" : "false"),
                                   ("broker.id", "\(nodeId)"), ("log.message.format.version", config.version.rawValue),
                                   ("message.max.bytes", "1000012"), ("num.partitions", "\(config.defaultPartitions)")]
                    } else {
                        code = .invalidRequest; message = "Unsupported resource type \(r.0)"
                    }
                }
                if let names = r.2 { configs = configs.filter { names.contains($0.0) } }
                b.wError(code); b.wNullableString(message); b.wInt8(r.0); b.wString(r.1)
                b.wArray(code == .none ? configs : []) { b, c in
                    b.wString(c.0); b.wNullableString(c.1); b.wBool(false)
                    if v == 0 { b.wBool(true) } else { b.wInt8(5) }  // DEFAULT_CONFIG
                    b.wBool(false)
                    if v >= 1 { b.wInt32(0) }
                }
            }
        }
        return .respond(out)
    }

    func alterConfigs(_ v: Int16, _ body: inout ByteBuffer, _ forced: KafkaErrorCode?) throws -> Outcome {
        let resources = try body.rArray { b in
            (try b.rInt8(), try b.rString(), try b.rArray { b in (try b.rString(), try b.rNullableString()) })
        }
        let validateOnly = try body.rBool()
        var out = ByteBuffer()
        out.wInt32(0)
        lock.withLockVoid {
            out.wArray(resources) { b, r in
                var code = forced ?? .none
                var message: String? = nil
                if code == .none {
                    if r.0 != 2 {
                        code = .invalidConfig; message = "sluice dev-kafka has no dynamic broker configs"
                    } else if let t = topics[r.1] {
                        if let unknown = r.2.first(where: { !Self.topicConfigNames.contains($0.0) }) {
                            code = .invalidConfig; message = "Unknown topic config name: \(unknown.0)"
                        } else if let ts = r.2.first(where: { $0.0 == "message.timestamp.type" })?.1,
                                  ts != "CreateTime" && ts != "LogAppendTime" {
                            code = .invalidConfig; message = "Invalid value \(ts) for configuration message.timestamp.type"
                        } else if !validateOnly {
                            t.logAppendTime = r.2.first { $0.0 == "message.timestamp.type" }?.1 == "LogAppendTime"
                        }
                    } else {
                        code = .unknownTopicOrPartition; message = "Topic \(r.1) does not exist"
                    }
                }
                b.wError(code); b.wNullableString(message); b.wInt8(r.0); b.wString(r.1)
            }
        }
        return .respond(out)
    }

    func describeLogDirs(_ v: Int16, _ body: inout ByteBuffer, _ forced: KafkaErrorCode?) throws -> Outcome {
        let request = try body.rNullableArray { b in (try b.rString(), try b.rArray { try $0.rInt32() }) }
        var out = ByteBuffer()
        out.wInt32(0)
        lock.withLockVoid {
            let wanted: [(String, [Int32])] = request ?? topics.values.sorted { $0.name < $1.name }
                .map { ($0.name, (0..<Int32($0.partitions.count)).map { $0 }) }
            out.wInt32(1)
            out.wError(forced ?? .none)
            out.wString(config.dataDirectory ?? "/sluice-dev-kafka")
            let present = wanted.compactMap { w -> (String, [(Int32, Int64)])? in
                guard let t = topics[w.0] else { return nil }
                return (w.0, w.1.filter { $0 >= 0 && Int($0) < t.partitions.count }.map { p in
                    (p, Int64(t.partitions[Int(p)].chunks.reduce(0) { $0 + $1.bytes.readableBytes }))
                })
            }
            out.wArray(present) { b, t in
                b.wString(t.0)
                b.wArray(t.1) { b, p in b.wInt32(p.0); b.wInt64(p.1); b.wInt64(0); b.wBool(false) }
            }
        }
        return .respond(out)
    }

    func createPartitions(_ v: Int16, _ body: inout ByteBuffer, _ forced: KafkaErrorCode?) throws -> Outcome {
        let request = try body.rArray { b in
            (try b.rString(), try b.rInt32(), try b.rNullableArray { b in try b.rArray { try $0.rInt32() } })
        }
        _ = try body.rInt32()
        let validateOnly = try body.rBool()
        var out = ByteBuffer()
        out.wInt32(0)
        lock.withLockVoid {
            out.wArray(request) { b, r in
                var code = forced ?? .none
                var message: String? = nil
                if code == .none {
                    if let t = topics[r.0] {
                        if Int(r.1) <= t.partitions.count {
                            code = .invalidPartitions
                            message = "Topic currently has \(t.partitions.count) partitions, which is higher than the requested \(r.1)."
                        } else if r.1 > 10_000 {
                            code = .invalidPartitions; message = "sluice dev-kafka allows at most 10000 partitions."
                        } else if !validateOnly {
                            t.partitions += (t.partitions.count..<Int(r.1)).map { _ in PartitionLog() }
                            try? persistence?.createTopic(DevKafkaTopic(name: t.name, partitions: t.partitions.count,
                                                                        logAppendTime: t.logAppendTime))
                        }
                    } else {
                        code = .unknownTopicOrPartition; message = "The topic '\(r.0)' does not exist."
                    }
                }
                b.wString(r.0); b.wError(code); b.wNullableString(message)
            }
        }
        return .respond(out)
    }

    func deleteGroups(_ v: Int16, _ body: inout ByteBuffer, _ forced: KafkaErrorCode?) throws -> Outcome {
        let ids = try body.rArray { try $0.rString() }
        var out = ByteBuffer()
        out.wInt32(0)
        lock.withLockVoid {
            out.wArray(ids) { b, id in
                var code = forced ?? .none
                if code == .none {
                    if let g = groups[id], !g.members.isEmpty {
                        code = .nonEmptyGroup
                    } else if groups[id] == nil && committed[id] == nil {
                        code = .groupIdNotFound
                    } else {
                        groups[id] = nil
                        committed[id] = nil
                        try? persistence?.saveOffsets(committed)
                    }
                }
                b.wString(id); b.wError(code)
            }
        }
        return .respond(out)
    }
}
