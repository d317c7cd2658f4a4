import Foundation
import Testing

@testable import StevedoreCore

/// Event patterns as EventBridge matches them (cases from AWS's documentation and recorded answers).
struct EventPatternTests {
    let event = """
        {"version":"0","id":"1","detail-type":"ECS Task State Change","source":"aws.ecs","account":"000000000000",
         "time":"2026-12-01T00:00:00Z","region":"us-east-1","resources":["arn:aws:ecs:us-east-1:000000000000:task/c/abc"],
         "detail":{"lastStatus":"STOPPED","stopCode":"EssentialContainerExited","count":7,"ratio":0.5,"flag":true,"none":null,
                   "ip":"10.0.3.7","tags":["blue","prod"],"containers":[{"name":"web","exitCode":0},{"name":"sidecar","exitCode":137}],
                   "group":"service:web","empty":[]}}
        """

    func matches(_ pattern: String) throws -> Bool {
        let parsed = try EventPattern.parse(pattern)
        return parsed.matches(try JSONDecoder().decode(JSONValue.self, from: Data(event.utf8)))
    }

    @Test func literalsMatchExactlyAndByType() throws {
        #expect(try matches(#"{"source":["aws.ecs"],"detail-type":["ECS Task State Change"]}"#))
        #expect(try matches(#"{"source":["aws.ec2","aws.ecs"]}"#))
        #expect(try !matches(#"{"source":["AWS.ECS"]}"#))
        #expect(try matches(#"{"detail":{"count":[7]}}"#))
        #expect(try matches(#"{"detail":{"count":[7.0]}}"#))
        #expect(try !matches(#"{"detail":{"count":["7"]}}"#))
        #expect(try matches(#"{"detail":{"flag":[true]}}"#))
        #expect(try !matches(#"{"detail":{"flag":["true"]}}"#))
        #expect(try matches(#"{"detail":{"none":[null]}}"#))
        #expect(try !matches(#"{"detail":{"missing":[null]}}"#))
        // All fields must match.
        #expect(try !matches(#"{"source":["aws.ecs"],"detail":{"lastStatus":["RUNNING"]}}"#))
    }

    @Test func arraysInTheEventMatchByAnyElement() throws {
        #expect(try matches(#"{"detail":{"tags":["prod"]}}"#))
        #expect(try !matches(#"{"detail":{"tags":["dev"]}}"#))
        #expect(try matches(#"{"detail":{"containers":{"exitCode":[137]}}}"#))
        #expect(try matches(#"{"resources":[{"prefix":"arn:aws:ecs:"}]}"#))
    }

    @Test func contentFilters() throws {
        #expect(try matches(#"{"detail":{"group":[{"prefix":"service:"}]}}"#))
        #expect(try matches(#"{"detail":{"group":[{"prefix":{"equals-ignore-case":"SERVICE:"}}]}}"#))
        #expect(try matches(#"{"detail":{"group":[{"suffix":":web"}]}}"#))
        #expect(try matches(#"{"detail":{"lastStatus":[{"equals-ignore-case":"stopped"}]}}"#))
        #expect(try matches(#"{"detail":{"stopCode":[{"wildcard":"Essential*Exited"}]}}"#))
        #expect(try !matches(#"{"detail":{"stopCode":[{"wildcard":"Essential*Started"}]}}"#))
        #expect(try matches(#"{"detail":{"lastStatus":[{"anything-but":["RUNNING","PENDING"]}]}}"#))
        #expect(try !matches(#"{"detail":{"lastStatus":[{"anything-but":"STOPPED"}]}}"#))
        #expect(try matches(#"{"detail":{"lastStatus":[{"anything-but":{"prefix":"RUN"}}]}}"#))
        // anything-but needs the field; a null is a value that is not excluded.
        #expect(try !matches(#"{"detail":{"missing":[{"anything-but":"x"}]}}"#))
        #expect(try matches(#"{"detail":{"none":[{"anything-but":"x"}]}}"#))
        #expect(try matches(#"{"detail":{"count":[{"numeric":[">",0,"<=",7]}]}}"#))
        #expect(try !matches(#"{"detail":{"count":[{"numeric":[">",7]}]}}"#))
        #expect(try matches(#"{"detail":{"ratio":[{"numeric":["=",0.5]}]}}"#))
        #expect(try matches(#"{"detail":{"ip":[{"cidr":"10.0.0.0/16"}]}}"#))
        #expect(try !matches(#"{"detail":{"ip":[{"cidr":"10.1.0.0/16"}]}}"#))
        #expect(try matches(#"{"detail":{"stopCode":[{"exists":true}],"missing":[{"exists":false}]}}"#))
        // `exists` looks at leaves: not an object, not an empty array.
        #expect(try !matches(#"{"detail":{"containers":[{"exists":true}]}}"#))
        #expect(try !matches(#"{"detail":{"empty":[{"exists":true}]}}"#))
        #expect(try matches(#"{"detail":{"nested":{"deeper":[{"exists":false}]}}}"#))
    }

    @Test func alternativesWithOr() throws {
        #expect(try matches(#"{"detail":{"$or":[{"lastStatus":["RUNNING"]},{"count":[{"numeric":[">",5]}]}]}}"#))
        #expect(try !matches(#"{"detail":{"$or":[{"lastStatus":["RUNNING"]},{"count":[{"numeric":[">",50]}]}]}}"#))
        #expect(try matches(#"{"$or":[{"source":["aws.ec2"]},{"detail":{"flag":[true]}}]}"#))
    }

    @Test func wildcardsBacktrackAndEscape() {
        func wildcard(_ pattern: String, _ text: String) -> Bool {
            Matcher.wildcardMatches(Array(pattern.unicodeScalars), Array(text.unicodeScalars))
        }
        #expect(wildcard("*.png", "a.b.png"))
        #expect(wildcard("a*b*c", "aXbYbZc"))
        #expect(!wildcard("a*b*c", "aXbYbZ"))
        #expect(wildcard(#"a\*b"#, "a*b"))
        #expect(!wildcard(#"a\*b"#, "aXb"))
        #expect(wildcard("", ""))
        #expect(!wildcard("", "x"))
    }

    @Test func invalidPatternsSayWhy() {
        func reason(_ pattern: String) -> String? {
            do {
                _ = try EventPattern.parse(pattern)
                return nil
            } catch {
                return error.reason
            }
        }
        #expect(reason(#"{"int": 42}"#) == #""int" must be an object or an array"#)
        #expect(reason("[1]") == "Filter is not an object")
        #expect(reason("{}") == "Empty objects are not allowed")
        #expect(reason(#"{"source": []}"#) == "Empty arrays are not allowed")
        #expect(reason(#"{"source": [{"EXISTS": true}]}"#) == "Unrecognized match type EXISTS")
        #expect(reason(#"{"source": [{"prefix": 1}]}"#) == "prefix match pattern must be a string")
        #expect(reason(#"{"n": [{"numeric": 10}]}"#) == "Value of numeric must be an array.")
        #expect(reason(#"{"n": [{"numeric": [">", 0, ">", 0]}]}"#) == "Bad numeric range operator: >")
        #expect(reason(#"{"n": [{"numeric": [">", 0, "<"]}]}"#) == "Value of < must be numeric")
        #expect(reason(#"{"n": [{"numeric": ["<", 5, ">", 0]}]}"#) == "Too many elements in numeric expression")
        #expect(reason(#"{"n": [{"numeric": ["!", 5]}]}"#) == "Unrecognized numeric range operator: !")
        #expect(reason(#"{"n": [{"exists": "yes"}]}"#) == "exists match pattern must be either true or false.")
        #expect(reason(#"{"n": [{"anything-but": {"prefix": ""}}]}"#) == "Null prefix/suffix not allowed")
        #expect(reason(#"{"n": [{"anything-but": [true]}]}"#) == "Inside anything but list, start|null|boolean is not supported.")
        #expect(reason(#"{"n": [{"wildcard": "a**b"}]}"#) == "Consecutive wildcard characters at pos 2")
        #expect(reason(#"{"n": [{"cidr": "10.0.0.0"}]}"#) == "Malformed CIDR, one '/' required")
        #expect(reason(#"{"$or": [{"a": ["b"]}]}"#) == "There must have at least 2 Objects in $or relationship.")
        #expect(reason("not json") == "Filter is not valid JSON")
        #expect(reason(#"{"a": ["\#(String(repeating: "x", count: 5000))"]}"#)?.hasPrefix("Event pattern is longer") == true)
        #expect(EventPattern.ParseError(reason: "r").message == "Event pattern is not valid. Reason: r")
    }
}
