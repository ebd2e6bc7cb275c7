package dev.metricspipeline.kstreams;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.avro.Schema;

/**
 * The Confluent schema registry REST API as this job needs it (Confluent's serializer is not on
 * Maven Central): the writer schema of an id, and registering a schema under a subject.
 */
final class Registry {
  private static final ObjectMapper JSON = new ObjectMapper();
  private final String url;
  private final HttpClient http = HttpClient.newHttpClient();
  private final Map<Integer, Schema> writers = new ConcurrentHashMap<>();

  Registry(String url) {
    this.url = url.replaceAll("/+$", "");
  }

  Schema writer(int id) {
    return writers.computeIfAbsent(id, this::fetch);
  }

  private Schema fetch(int id) {
    JsonNode body = call(HttpRequest.newBuilder(URI.create(url + "/schemas/ids/" + id)).GET(), "schema id " + id);
    return new Schema.Parser().parse(body.get("schema").asText());
  }

  int register(String subject, Schema schema) {
    String request = JSON.createObjectNode().put("schema", schema.toString()).toString();
    JsonNode body =
        call(
            HttpRequest.newBuilder(URI.create(url + "/subjects/" + subject + "/versions"))
                .header("Content-Type", "application/vnd.schemaregistry.v1+json")
                .POST(HttpRequest.BodyPublishers.ofString(request)),
            "register under " + subject);
    return body.get("id").asInt();
  }

  private JsonNode call(HttpRequest.Builder request, String what) {
    try {
      HttpResponse<String> response = http.send(request.build(), HttpResponse.BodyHandlers.ofString());
      if (response.statusCode() / 100 != 2) {
        throw new IllegalStateException(
            "schema registry " + url + ": " + what + " answered " + response.statusCode() + ": " + response.body());
      }
      return JSON.readTree(response.body());
    } catch (IOException e) {
      throw new IllegalStateException("schema registry " + url + " unreachable (" + what + ")", e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted", e);
    }
  }
}
