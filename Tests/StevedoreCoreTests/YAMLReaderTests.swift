import StevedoreCore
import Testing

/// The YAML that API definitions and templates are written in.
struct YAMLReaderTests {
    func read(_ text: String) throws -> String { try YAMLReader.read(text).json() }

    @Test func blockMappingsSequencesAndScalars() throws {
        let text = """
            # a comment
            openapi: "3.0.1"
            info:
              title: Pets API   # trailing comment
              version: '1.0'
              count: 3
              ok: true
              none: ~
            paths:
              /pets/{id}:
                get:
                  tags: [a, "b c", 'd''e']
                  map: {k: v, n: 1}
            list:
            - one
            - key: v
              other: w
            -
              - nested
            empty: []
            """
        #expect(try read(text) == #"{"openapi":"3.0.1","info":{"title":"Pets API","version":"1.0","count":3,"ok":true},"paths":{"/pets/{id}":{"get":{"tags":["a","b c","d'e"],"map":{"k":"v","n":1}}}},"list":["one",{"key":"v","other":"w"},["nested"]],"empty":[]}"#)
    }

    @Test func blockScalarsKeepOrFoldLines() throws {
        let text = """
            literal: |
              line one
                indented
              line three
            folded: >-
              one
              two

              para
            keep: |+
              x

            next: 1
            """
        let value = try read(text)
        #expect(value == #"{"literal":"line one\n  indented\nline three\n","folded":"one two\npara","keep":"x\n\n","next":1}"#)
    }

    @Test func cloudFormationTagsBecomeTheirLongForms() throws {
        let text = """
            a: !Ref Bucket
            b: !GetAtt Fn.Arn
            c: !Sub "arn:${AWS::Partition}:s3:::x"
            d: !Join
              - ","
              - [x, y]
            """
        #expect(try read(text) == #"{"a":{"Ref":"Bucket"},"b":{"Fn::GetAtt":["Fn","Arn"]},"c":{"Fn::Sub":"arn:${AWS::Partition}:s3:::x"},"d":{"Fn::Join":[",",["x","y"]]}}"#)
    }

    @Test func colonsInsideFlowScalarsStayInTheScalar() throws {
        #expect(try read("scopes: [pets:read, 'x', http://a/b]\nmap: {u: http://x, k: v}") == #"{"scopes":["pets:read","x","http://a/b"],"map":{"u":"http://x","k":"v"}}"#)
    }

    @Test func quotedScalarsAndFlowCollectionsGoOnOverLines() throws {
        let text = """
            Description: 'hello

              Sample SAM Template

              '
            Value: "one
              two"
            List: !Join ["", [
              !Ref A, "-",
              !GetAtt B.Arn]]
            Map: {A: !Ref X, B: [!Sub "${Y}"]}
            Plain: one
              two
              three
            Next: 1
            """
        #expect(
            try read(text)
                == #"{"Description":"hello\nSample SAM Template\n","Value":"one two","List":{"Fn::Join":["",[{"Ref":"A"},"-",{"Fn::GetAtt":["B","Arn"]}]]},"Map":{"A":{"Ref":"X"},"B":[{"Fn::Sub":"${Y}"}]},"Plain":"one two three","Next":1}"#
        )
    }

    @Test(arguments: ["a: 1\na: 2", "a: *ref", "a: [1, 2", "a: \"open", "a:\n  b: 1\n c: 2", "a: [1, 2 x", "a: {b: c"])
    func malformedDocumentsAreRefused(_ text: String) {
        #expect(throws: YAMLReader.Failure.self) { try YAMLReader.read(text) }
    }

    @Test func deepNestingIsRefusedNotFollowedToTheEndOfTheStack() {
        #expect(throws: YAMLReader.Failure.self) { try YAMLReader.read("a: " + String(repeating: "[", count: 100_000)) }
        #expect(throws: YAMLReader.Failure.self) { try YAMLReader.read(String(repeating: "- ", count: 1_000) + "x") }
        #expect(throws: Never.self) { try YAMLReader.read("a: " + String(repeating: "[", count: 100) + String(repeating: "]", count: 100)) }
    }
}
