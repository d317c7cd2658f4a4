import APIGateway
import APIGatewayShapes
import Foundation
import StevedoreCore
import Testing

/// Bodies checked against models as request validators check them (JSON Schema draft 4).
struct JSONSchemaTests {
    func valid(_ body: String, _ schema: String, models: [String: V1Model] = [:]) -> Bool {
        let value = try! JSONDecoder().decode(JSONValue.self, from: Data(body.utf8))
        let rules = try! JSONDecoder().decode(JSONValue.self, from: Data(schema.utf8))
        return JSONSchema.validates(value, against: rules, models: models)
    }

    @Test func typesEnumsAndCombinations() {
        #expect(valid("3", #"{"type": ["integer", "null"]}"#) && valid("null", #"{"type": ["integer", "null"]}"#))
        #expect(!valid("3.5", #"{"type": "integer"}"#))
        #expect(valid(#""b""#, #"{"enum": ["a", "b"]}"#) && !valid(#""c""#, #"{"enum": ["a", "b"]}"#))
        #expect(valid("5", #"{"oneOf": [{"minimum": 4}, {"maximum": 2}]}"#) && !valid("5", #"{"oneOf": [{"minimum": 4}, {"minimum": 1}]}"#))
        #expect(!valid("5", #"{"not": {"type": "number"}}"#))
        #expect(!valid("5", #"{"maximum": 5, "exclusiveMaximum": true}"#) && valid("5", #"{"maximum": 5}"#))
        #expect(valid(#""ab12""#, #"{"pattern": "^[a-z]+[0-9]+$"}"#) && !valid(#""12ab""#, #"{"pattern": "^[a-z]+[0-9]+$"}"#))
        #expect(!valid("[1, 1]", #"{"uniqueItems": true}"#))
    }

    @Test func referencesToDefinitionsAndOtherModels() {
        let address = V1Model(name: "Address", schema: #"{"type": "object", "required": ["city"]}"#, contentType: "application/json")
        let schema = ##"{"type": "object", "properties": {"home": {"$ref": "https://apigateway.amazonaws.com/restapis/a1/models/Address"}, "id": {"$ref": "#/definitions/id"}}, "definitions": {"id": {"type": "string"}}}"##
        #expect(valid(#"{"home": {"city": "Oslo"}, "id": "x"}"#, schema, models: ["Address": address]))
        #expect(!valid(#"{"home": {}}"#, schema, models: ["Address": address]))
        #expect(!valid(#"{"id": 3}"#, schema, models: ["Address": address]))
        // A schema that refers to itself twice over ends (refused) rather than taking exponential time.
        let looping = ##"{"definitions": {"x": {"allOf": [{"$ref": "#/definitions/x"}, {"$ref": "#/definitions/x"}]}}, "$ref": "#/definitions/x"}"##
        #expect(!valid("1", looping))
        // A reference to a model that does not exist fails the body rather than passing it.
        #expect(!valid(#"{"home": {"city": "Oslo"}}"#, schema))
    }
}
