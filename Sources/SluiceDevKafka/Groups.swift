import Foundation
import NIOCore

/// A consumer group as the coordinator sees it: members, generation, the leader's assignments.
final class Group {
    enum State: String { case empty = "Empty", preparing = "PreparingRebalance", awaitingSync = "CompletingRebalance", stable = "Stable" }
    struct Member {
        var id: String
        var clientId: String
        var protocols: [(String, ByteBuffer)]
        var rebalanceTimeoutMs: Int32
        var sessionTimeoutMs: Int32
        /// The last join, sync or heartbeat: a member silent for its session timeout is removed.
        var lastSeen: NIODeadline
    }
    typealias Responder = @Sendable (ByteBuffer) -> Void

    let id: String
    var state = State.empty
    var generation: Int32 = 0
    var protocolType = ""
    var protocolName: String?
    var leader: String?
    var members: [String: Member] = [:]
    var order: [String] = []
    var pendingJoins: [String: (Int16, Responder)] = [:]
    var pendingSyncs: [String: (Int16, Responder)] = [:]
    var assignments: [String: ByteBuffer] = [:]
    var rebalanceRound = 0
    /// Ids handed out with MEMBER_ID_REQUIRED, waiting for the member's rejoin.
    var pendingMemberIds: Set<String> = []

    init(id: String) { self.id = id }
}

extension BrokerCore {
    func joinGroup(_ v: Int16, _ body: inout ByteBuffer, _ forced: KafkaErrorCode?, clientId: String) throws -> Outcome {
        let groupId = try body.rString()
        let sessionTimeout = try body.rInt32()
        let rebalanceTimeout = v >= 1 ? try body.rInt32() : sessionTimeout
        let memberId = try body.rString()
        let protocolType = try body.rString()
        let protocols = try body.rArray { b in (try b.rString(), try b.rBytes()) }
        func failure(_ code: KafkaErrorCode, member: String) -> Outcome {
            .respond(joinResponse(v, code, generation: -1, protocolName: "", leader: "", member: member, members: []))
        }
        if let forced { return failure(forced, member: memberId) }
        if sessionTimeout < 6000 || sessionTimeout > 300_000 { return failure(.invalidSessionTimeout, member: memberId) }
        if protocols.isEmpty || protocolType.isEmpty { return failure(.inconsistentGroupProtocol, member: memberId) }
        return .deferred { [self] respond in
            var ready: [(Group.Responder, ByteBuffer)] = []
            var immediate: ByteBuffer? = nil
            var scheduleTimeout: (Int, Int64)? = nil
            lock.withLockVoid {
                let group = groups[groupId] ?? Group(id: groupId)
                groups[groupId] = group
                if !group.members.isEmpty && group.protocolType != protocolType {
                    immediate = joinResponse(v, .inconsistentGroupProtocol, generation: -1, protocolName: "", leader: "", member: memberId, members: [])
                    return
                }
                var id = memberId
                if id.isEmpty {
                    id = "\(clientId.isEmpty ? "member" : clientId)-\(UUID().uuidString.lowercased())"
                    if v >= 4 {
                        // KIP-394 (Kafka 2.2): the member must rejoin with the id it is given.
                        group.pendingMemberIds.insert(id)
                        immediate = joinResponse(v, .memberIdRequired, generation: -1, protocolName: "", leader: "", member: id, members: [])
                        return
                    }
                } else if group.pendingMemberIds.remove(id) != nil {
                    // The rejoin of a member that was given its id.
                } else if group.members[id] == nil {
                    immediate = joinResponse(v, .unknownMemberId, generation: -1, protocolName: "", leader: "", member: memberId, members: [])
                    return
                }
                group.protocolType = protocolType
                if group.members[id] == nil { group.order.append(id) }
                group.members[id] = Group.Member(id: id, clientId: clientId, protocols: protocols, rebalanceTimeoutMs: rebalanceTimeout,
                                                 sessionTimeoutMs: sessionTimeout, lastSeen: .now())
                if let old = group.pendingJoins[id] {
                    ready.append((old.1, joinResponse(old.0, .unknownMemberId, generation: -1, protocolName: "", leader: "", member: id, members: [])))
                }
                group.pendingJoins[id] = (v, respond)
                if group.state != .preparing {
                    group.state = .preparing
                    group.rebalanceRound += 1
                    // Members that are waiting in SyncGroup must rejoin.
                    for pending in group.pendingSyncs.values {
                        ready.append((pending.1, syncResponse(pending.0, .rebalanceInProgress, ByteBuffer())))
                    }
                    group.pendingSyncs.removeAll()
                    scheduleTimeout = (group.rebalanceRound, Int64(min(max(rebalanceTimeout, 1000), 10_000)))
                }
                if group.members.keys.allSatisfy({ group.pendingJoins[$0] != nil }) {
                    ready += completeJoin(group)
                }
            }
            if let immediate { respond(immediate) }
            for (r, b) in ready { r(b) }
            if let (round, ms) = scheduleTimeout {
                scheduler.next().scheduleTask(in: .milliseconds(ms)) { [self] in
                    let ready: [(Group.Responder, ByteBuffer)] = lock.withLock {
                        guard let group = groups[groupId], group.state == .preparing, group.rebalanceRound == round else { return [] }
                        return completeJoin(group)
                    }
                    for (r, b) in ready { r(b) }
                }
            }
        }
    }

    /// Ends the join phase: members that did not rejoin are dropped, the generation advances, the
    /// leader gets the member list. Called with the lock held.
    func completeJoin(_ group: Group) -> [(Group.Responder, ByteBuffer)] {
        for id in group.members.keys where group.pendingJoins[id] == nil {
            group.members[id] = nil
        }
        group.order.removeAll { group.members[$0] == nil }
        guard let firstId = group.order.first else {
            group.state = .empty
            return []
        }
        group.generation += 1
        if group.leader == nil || group.members[group.leader!] == nil { group.leader = firstId }
        let leader = group.members[group.leader!]!
        let chosen = leader.protocols.first { p in group.members.values.allSatisfy { m in m.protocols.contains { $0.0 == p.0 } } }?.0
            ?? leader.protocols[0].0
        group.protocolName = chosen
        group.state = .awaitingSync
        group.assignments.removeAll()
        let memberList: [(String, ByteBuffer)] = group.order.map { id in
            (id, group.members[id]!.protocols.first { $0.0 == chosen }?.1 ?? ByteBuffer())
        }
        var out: [(Group.Responder, ByteBuffer)] = []
        for (id, pending) in group.pendingJoins {
            out.append((pending.1, joinResponse(pending.0, .none, generation: group.generation, protocolName: chosen,
                                                leader: group.leader!, member: id,
                                                members: id == group.leader ? memberList : [])))
        }
        group.pendingJoins.removeAll()
        return out
    }

    func joinResponse(_ v: Int16, _ code: KafkaErrorCode, generation: Int32, protocolName: String, leader: String,
                      member: String, members: [(String, ByteBuffer)]) -> ByteBuffer {
        var out = ByteBuffer()
        if v >= 2 { out.wInt32(0) }
        out.wError(code)
        out.wInt32(generation)
        out.wString(protocolName)
        out.wString(leader)
        out.wString(member)
        out.wArray(members) { b, m in b.wString(m.0); b.wNullableBytes(m.1) }
        return out
    }

    func syncResponse(_ v: Int16, _ code: KafkaErrorCode, _ assignment: ByteBuffer) -> ByteBuffer {
        var out = ByteBuffer()
        if v >= 1 { out.wInt32(0) }
        out.wError(code)
        out.wNullableBytes(assignment)
        return out
    }

    func syncGroup(_ v: Int16, _ body: inout ByteBuffer, _ forced: KafkaErrorCode?) throws -> Outcome {
        let groupId = try body.rString()
        let generation = try body.rInt32()
        let memberId = try body.rString()
        let assignments = try body.rArray { b in (try b.rString(), try b.rBytes()) }
        if let forced { return .respond(syncResponse(v, forced, ByteBuffer())) }
        return .deferred { [self] respond in
            var ready: [(Group.Responder, ByteBuffer)] = []
            lock.withLockVoid {
                guard let group = groups[groupId], group.members[memberId] != nil else {
                    ready.append((respond, syncResponse(v, .unknownMemberId, ByteBuffer()))); return
                }
                touch(group, memberId)
                if group.state == .preparing {
                    ready.append((respond, syncResponse(v, .rebalanceInProgress, ByteBuffer()))); return
                }
                guard group.generation == generation else {
                    ready.append((respond, syncResponse(v, .illegalGeneration, ByteBuffer()))); return
                }
                if group.state == .stable {
                    ready.append((respond, syncResponse(v, .none, group.assignments[memberId] ?? ByteBuffer()))); return
                }
                group.pendingSyncs[memberId] = (v, respond)
                if memberId == group.leader {
                    for (id, a) in assignments { group.assignments[id] = a }
                    group.state = .stable
                    for (id, pending) in group.pendingSyncs {
                        ready.append((pending.1, syncResponse(pending.0, .none, group.assignments[id] ?? ByteBuffer())))
                    }
                    group.pendingSyncs.removeAll()
                }
            }
            for (r, b) in ready { r(b) }
        }
    }

    func heartbeat(_ v: Int16, _ body: inout ByteBuffer, _ forced: KafkaErrorCode?) throws -> Outcome {
        let groupId = try body.rString()
        let generation = try body.rInt32()
        let memberId = try body.rString()
        let code: KafkaErrorCode = forced ?? lock.withLock {
            guard let group = groups[groupId], group.members[memberId] != nil else { return .unknownMemberId }
            touch(group, memberId)
            if group.state == .preparing { return .rebalanceInProgress }
            if group.generation != generation { return .illegalGeneration }
            return .none
        }
        var out = ByteBuffer()
        if v >= 1 { out.wInt32(0) }
        out.wError(code)
        return .respond(out)
    }

    func leaveGroup(_ v: Int16, _ body: inout ByteBuffer, _ forced: KafkaErrorCode?) throws -> Outcome {
        let groupId = try body.rString()
        let memberId = try body.rString()
        var ready: [(Group.Responder, ByteBuffer)] = []
        let code: KafkaErrorCode = forced ?? lock.withLock {
            guard let group = groups[groupId], group.members[memberId] != nil else { return .unknownMemberId }
            ready = removeMembers([memberId], from: group)
            return .none
        }
        for (r, b) in ready { r(b) }
        var out = ByteBuffer()
        if v >= 1 { out.wInt32(0) }
        out.wError(code)
        return .respond(out)
    }

    /// Removes members (left, or silent past their session timeout); the others rebalance. Called
    /// with the lock held; returns the responses to send after it is released.
    func removeMembers(_ ids: [String], from group: Group) -> [(Group.Responder, ByteBuffer)] {
        var ready: [(Group.Responder, ByteBuffer)] = []
        for id in ids {
            group.members[id] = nil
            group.pendingJoins[id] = nil
            group.pendingSyncs[id] = nil
        }
        group.order.removeAll { group.members[$0] == nil }
        if group.members.isEmpty {
            group.state = .empty
        } else if group.state == .preparing {
            if group.members.keys.allSatisfy({ group.pendingJoins[$0] != nil }) { ready = completeJoin(group) }
        } else {
            group.state = .preparing
            group.rebalanceRound += 1
            for (_, pending) in group.pendingSyncs {
                ready.append((pending.1, syncResponse(pending.0, .rebalanceInProgress, ByteBuffer())))
            }
            group.pendingSyncs.removeAll()
            let round = group.rebalanceRound
            let groupId = group.id
            let timeout = Int64(min(max(group.members.values.map(\.rebalanceTimeoutMs).max() ?? 1000, 1000), 10_000))
            scheduler.next().scheduleTask(in: .milliseconds(timeout)) { [self] in
                let ready: [(Group.Responder, ByteBuffer)] = lock.withLock {
                    guard let group = groups[groupId], group.state == .preparing, group.rebalanceRound == round else { return [] }
                    return completeJoin(group)
                }
                for (r, b) in ready { r(b) }
            }
        }
        return ready
    }

    /// Removes members whose session timed out (no heartbeat, join or sync within it).
    func expireMembers() {
        let now = NIODeadline.now()
        var ready: [(Group.Responder, ByteBuffer)] = []
        lock.withLockVoid {
            for group in groups.values {
                let expired = group.members.values.filter {
                    group.pendingJoins[$0.id] == nil && group.pendingSyncs[$0.id] == nil
                        && $0.lastSeen + .milliseconds(Int64($0.sessionTimeoutMs)) < now
                }.map(\.id)
                if !expired.isEmpty { ready += removeMembers(expired, from: group) }
            }
        }
        for (r, b) in ready { r(b) }
    }

    func touch(_ group: Group, _ memberId: String) {
        group.members[memberId]?.lastSeen = .now()
    }

    func describeGroups(_ v: Int16, _ body: inout ByteBuffer, _ forced: KafkaErrorCode?) throws -> Outcome {
        let ids = try body.rArray { try $0.rString() }
        var out = ByteBuffer()
        if v >= 1 { out.wInt32(0) }
        lock.withLockVoid {
            out.wArray(ids) { b, id in
                let g = groups[id]
                b.wError(forced ?? .none)
                b.wString(id)
                b.wString(g.map { $0.members.isEmpty ? "Empty" : $0.state.rawValue } ?? "Dead")
                b.wString(g?.protocolType ?? "")
                b.wString(g?.state == .stable ? g?.protocolName ?? "" : "")
                let members = g.map { g in g.order.compactMap { g.members[$0] } } ?? []
                b.wArray(members) { b, m in
                    b.wString(m.id); b.wString(m.clientId); b.wString("/127.0.0.1")
                    b.wNullableBytes(m.protocols.first { $0.0 == g?.protocolName }?.1 ?? ByteBuffer())
                    b.wNullableBytes(g?.assignments[m.id] ?? ByteBuffer())
                }
            }
        }
        return .respond(out)
    }

    func listGroups(_ v: Int16, _ body: inout ByteBuffer, _ forced: KafkaErrorCode?) throws -> Outcome {
        var out = ByteBuffer()
        if v >= 1 { out.wInt32(0) }
        out.wError(forced ?? .none)
        let list: [(String, String)] = lock.withLock {
            forced != nil ? [] : groups.values.filter { !$0.members.isEmpty }.map { ($0.id, $0.protocolType) }.sorted { $0.0 < $1.0 }
        }
        out.wArray(list) { b, g in b.wString(g.0); b.wString(g.1) }
        return .respond(out)
    }
}
